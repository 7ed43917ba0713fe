#!/usr/bin/env bash
# Runs the codec's criterion benches (unmask, utf8, decode, handshake) and
# records the results: <run folder>/<date>-<host>-codec.json (perf/run-dir.sh) and the table
# printed here (copied into docs/benchmarks.md by hand, with the CPU model).
#   perf/codec-bench.sh [extra criterion args, e.g. --measurement-time 5]
#   OUT="$(bash perf/run-dir.sh)/x.json" perf/codec-bench.sh unmask_copy   # a filter; another output file
set -euo pipefail
cd "$(dirname "$0")/.."
# Absolute: criterion runs in the package directory and writes its results
# under $CARGO_TARGET_DIR/criterion.
export CARGO_TARGET_DIR=$(realpath -m "${CARGO_TARGET_DIR:-target}")
crit=$CARGO_TARGET_DIR/criterion
rm -rf "$crit"
# Pinned to one core so the other core's noise (if any) stays away.
taskset -c 1 cargo bench -p ringws-codec --bench unmask --bench utf8 --bench decode --bench handshake -- --warm-up-time 1 --measurement-time 3 "$@"
out=${OUT:-$(bash perf/run-dir.sh)/$(date -u +%F)-$(cat /proc/sys/kernel/hostname)-codec.json}
mkdir -p "$(dirname "$out")"
python3 - "$crit" "$out" <<'PY'
import json, os, sys, glob, re
crit, out = sys.argv[1], sys.argv[2]
rows = []
for est in sorted(glob.glob(os.path.join(crit, "**", "new", "estimates.json"), recursive=True)):
    d = os.path.dirname(os.path.dirname(est))
    bench = json.load(open(os.path.join(d, "new", "benchmark.json")))
    e = json.load(open(est))
    ns = e["median"]["point_estimate"]
    row = {"group": bench["group_id"], "function": bench.get("function_id"), "value": bench.get("value_str"),
           "median_ns": ns, "ci95_ns": [e["median"]["confidence_interval"]["lower_bound"], e["median"]["confidence_interval"]["upper_bound"]]}
    tp = bench.get("throughput")
    if tp and "Bytes" in tp:
        row["bytes"] = tp["Bytes"]; row["gb_per_s"] = tp["Bytes"] / ns
    if tp and "Elements" in tp:
        row["elements"] = tp["Elements"]; row["million_per_s"] = tp["Elements"] / ns * 1e3
    rows.append(row)
cpu = next((l.split(":",1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
flags = open("/proc/cpuinfo").read()
doc = {"cpu": cpu, "avx2": " avx2 " in flags, "sha_ni": " sha_ni " in flags, "kernel": open("/proc/sys/kernel/osrelease").read().strip(), "results": rows}
json.dump(doc, open(out, "w"), indent=1)
print(f"\nwrote {out}\n\n| group | function | size | median | throughput |\n|---|---|---:|---:|---:|")
for r in rows:
    t = f'{r["gb_per_s"]:.2f} GB/s' if "gb_per_s" in r else (f'{r["million_per_s"]:.2f} M/s' if "million_per_s" in r else f'{1e3/r["median_ns"]:.3f} M/s')
    print(f'| {r["group"]} | {r["function"]} | {r["value"] or ""} | {r["median_ns"]:.1f} ns | {t} |')
PY
