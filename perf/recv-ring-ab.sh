#!/usr/bin/env bash
# A/B of the receive ring's geometry: ringws on io_uring with the old default
# (256 x 16 KiB) and the new one (128 x 64 KiB), 64 KiB echo at 100
# connections x depth 16, runs alternating, server on CPU 0 and load on CPU 1
# under SCHED_FIFO. Writes perf/results/recv-ring-ab/<geometry>-<run>.json
# (ringws-bench reports: server CPU per message in .server.cpu_us_per_op).
#   perf/recv-ring-ab.sh [runs]      (default 3; NO_BUILD=1 skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
[ -n "${NO_BUILD:-}" ] || cargo build --release -p ringws -p ringws-bench
bin="${CARGO_TARGET_DIR:-target}/release"
out=perf/results/recv-ring-ab
mkdir -p "$out"
ulimit -n "$(ulimit -Hn)"
for r in $(seq 1 "$runs"); do
  for geo in 256x16384 128x65536; do
    chrt -f 50 taskset -c 0 "$bin/ringws" --bind 127.0.0.1:9306 --workers 1 --backend uring \
      --log warn --recv-buffers "$geo" &
    srv=$!
    sleep 0.5
    chrt -f 50 taskset -c 1 "$bin/ringws-bench" echo --url ws://127.0.0.1:9306/ \
      --connections 100 --size 65536 --depth 16 --binary --duration 4 --warmup 1 \
      --server-pid "$srv" --label "ringws-uring-$geo" --json "$out/$geo-$r.json" >/dev/null
    kill -INT "$srv"; wait "$srv" || true
    printf '%-10s run %s: %s us per message\n' "$geo" "$r" \
      "$(python3 -c "import json,sys;print(round(json.load(open(sys.argv[1]))['server']['cpu_us_per_op'],1))" "$out/$geo-$r.json")"
  done
done
