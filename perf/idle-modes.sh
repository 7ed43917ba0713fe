#!/usr/bin/env bash
# The same comparison under three ways for idle vCPUs to wait (needs root):
#   halt       as the machine is (haltpoll driver, guest_halt_poll_ns as set)
#   poll200us  the guest polls up to 200 µs before halting (perf/halt-poll.sh)
#   no-halt    halting idle states disabled (perf/no-halt.sh)
# Writes OUT/<mode>/*.json and tables.md (bench/compare results) and prints a table of
# server CPU per message, msgs/s and p99 per case, server and mode.
#
#   OUT=perf/results/2026-11-22-ed5c245/idle-modes SERVERS=ringws-uring,uws,fastwebsockets \
#     CASES=echo/16B/c100/r50000,echo/16B/c1/d1 perf/idle-modes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$(bash perf/run-dir.sh)/idle-modes}
servers=${SERVERS:-ringws-uring,uws,fastwebsockets}
cases=${CASES:-echo/16B/c100/r50000,echo/16B/c100/r200000,echo/16B/c1/d1,echo/16B/c100/d1}
runs=${RUNS:-3}
compare=(env NO_BUILD=1 bench/compare --fifo --runs "$runs" --duration 4 --warmup 1
  --servers "$servers" --cases "$cases")
for mode in ${MODES:-halt poll200us no-halt}; do
  mkdir -p "$out/$mode"
  case $mode in
    halt) "${compare[@]}" --out "$out/$mode" --docs "$out/$mode/tables.md" ;;
    poll200us) perf/halt-poll.sh 200000 "${compare[@]}" --out "$out/$mode" --docs "$out/$mode/tables.md" ;;
    no-halt) perf/no-halt.sh "${compare[@]}" --out "$out/$mode" --docs "$out/$mode/tables.md" ;;
  esac
done
python3 - "$out" <<'PY' | tee "$out/summary.md"
import glob, json, os, sys
out = sys.argv[1]
rows = {}
for f in sorted(glob.glob(os.path.join(out, "*", "*.json"))):
    mode = os.path.basename(os.path.dirname(f))
    c = json.load(open(f))
    for case in c["cases"]:
        for name, s in case["servers"].items():
            m = s.get("median") or {}
            rows[(case["id"], name, mode)] = m
print("| case | server | mode | server CPU µs/msg | msgs/s | p99 µs |")
print("|---|---|---|---:|---:|---:|")
fmt = lambda v, f: "–" if v is None else format(v, f)
for (case, name, mode), m in sorted(rows.items()):
    print(f"| `{case}` | {name} | {mode} | {fmt(m.get('cpu_us_per_op'), '.3g')} | "
          f"{fmt(m.get('per_second'), ',.0f')} | {fmt(m.get('p99_us'), ',.0f')} |")
PY
