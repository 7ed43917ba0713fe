#!/usr/bin/env bash
# A/B of the receive ring: ringws on io_uring with several ring geometries
# (COUNTxSIZE, ":whole" = without incremental consumption), over several
# echo cells, runs alternating so that drift on this shared machine hits
# every geometry alike; server on CPU 0 and load on CPU 1 under SCHED_FIFO.
# Writes OUT/<cell>/<geometry>-<run>.json (ringws-bench reports: server CPU
# per message in .server.cpu_us_per_op) and prints per cell and geometry the
# median server CPU per message and median msgs/s (also in OUT/summary.md).
#
#   perf/recv-ring-ab.sh [runs]                (default 3; NO_BUILD=1 skips the build)
#   GEOS="128x65536:whole 16x131072" CELLS="65536:100:16 16:100:1" OUT=perf/results/x perf/recv-ring-ab.sh 5
#
# CELLS entries are SIZE:CONNECTIONS:DEPTH. Defaults: the session-3 comparison
# (whole 128 x 64 KiB, the previous default, against incremental rings) over
# the echo cells the ring can move.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
geos=${GEOS:-"128x65536:whole 128x65536 32x131072 16x131072"}
cells=${CELLS:-"16:100:16 1024:100:16 65536:100:16 1048576:1:16 16:100:1"}
out=${OUT:-perf/results/recv-ring-ab-inc}
[ -n "${NO_BUILD:-}" ] || cargo build --release -p ringws -p ringws-bench
bin="${CARGO_TARGET_DIR:-target}/release"
ulimit -n "$(ulimit -Hn)"
for r in $(seq 1 "$runs"); do
  for cell in $cells; do
    IFS=: read -r size conns depth <<<"$cell"
    dir="$out/echo-${size}B-c${conns}-d${depth}"
    mkdir -p "$dir"
    for geo in $geos; do
      ring=${geo%%:*}
      extra=()
      [[ $geo == *:whole ]] && extra=(--whole-recv-buffers)
      chrt -f 50 taskset -c 0 "$bin/ringws" --bind 127.0.0.1:9306 --workers 1 --backend uring \
        --log warn --recv-buffers "$ring" "${extra[@]}" &
      srv=$!
      sleep 0.5
      chrt -f 50 taskset -c 1 "$bin/ringws-bench" echo --url ws://127.0.0.1:9306/ \
        --connections "$conns" --size "$size" --depth "$depth" --binary --duration 4 --warmup 1 \
        --server-pid "$srv" --label "ringws-uring-$geo" --json "$dir/${geo/:/-}-$r.json" >/dev/null
      kill -INT "$srv"; wait "$srv" || true
    done
  done
done
python3 - "$out" <<'PY' | tee "$out/summary.md"
import glob, json, os, statistics, sys
out = sys.argv[1]
print(f"\n| cell | ring | server CPU µs/msg (median) | runs | msgs/s (median) |\n|---|---|---:|---|---:|")
for d in sorted(glob.glob(os.path.join(out, "*"))):
    if not os.path.isdir(d):
        continue
    by = {}
    for f in glob.glob(os.path.join(d, "*.json")):
        geo = os.path.basename(f).rsplit("-", 1)[0]
        j = json.load(open(f))
        by.setdefault(geo, []).append((j["server"]["cpu_us_per_op"], j["per_second"]))
    for geo, v in sorted(by.items()):
        cpu = [c for c, _ in v]
        rate = [p for _, p in v]
        runs = " ".join(f"{c:.3g}" for c in cpu)
        print(f"| {os.path.basename(d)} | {geo} | {statistics.median(cpu):.3g} | {runs} | {statistics.median(rate):,.0f} |")
PY
