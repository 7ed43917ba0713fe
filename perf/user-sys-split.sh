#!/usr/bin/env bash
# Server CPU per message split into user and kernel time (utime/stime of
# /proc/PID/stat over a 4 s window), for ringws (io_uring, epoll) and
# uWebSockets, alternating runs; server on CPU 0, load on CPU 1, SCHED_FIFO.
# Shows how much of each server's cost is its own code and how much is the
# kernel's TCP work, which no server design removes.
#
#   CELLS="16:100:16 16:100:1" perf/user-sys-split.sh 3 "$(bash perf/run-dir.sh)/x.txt"
#
# Wrap it in perf/no-halt.sh and/or perf/steer-rx.sh to run it in those modes.
# CELLS: SIZE:CONNECTIONS:DEPTH (binary echo). Needs target/release/{ringws,
# ringws-bench,peer-uws} (cargo build --release; bash bench/peers/uws/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}; outf=${2:-$(bash perf/run-dir.sh)/user-sys-split.txt}
mkdir -p "$(dirname "$outf")"
bin="${CARGO_TARGET_DIR:-target}/release"
ulimit -n 20000
tck=$(getconf CLK_TCK)
: > "$outf"
for r in $(seq 1 $runs); do
 for cell in ${CELLS:-16:100:16 16:100:1}; do
  IFS=: read -r size conns depth <<<"$cell"
  for s in ringws-uring uws ringws-epoll; do
   case $s in
    ringws-uring) cmd=("$bin/ringws" --bind 127.0.0.1:9321 --workers 1 --backend uring --log warn);;
    ringws-epoll) cmd=("$bin/ringws" --bind 127.0.0.1:9321 --workers 1 --backend epoll --log warn);;
    uws) cmd=("$bin/peer-uws" --port 9321);;
   esac
   chrt -f 50 taskset -c 0 "${cmd[@]}" >/dev/null 2>&1 &
   srv=$!
   sleep 0.5
   chrt -f 50 taskset -c 1 $bin/ringws-bench echo --connections $conns --size $size --depth $depth --binary --url ws://127.0.0.1:9321/ --duration 5 --warmup 1 --server-pid $srv --label $s --json /tmp/split.json >/dev/null 2>&1 &
   ld=$!
   sleep 1.5
   a=$(awk '{print $14, $15}' /proc/$srv/stat);
   sleep 4
   b=$(awk '{print $14, $15}' /proc/$srv/stat);
   wait $ld || true
   kill -INT $srv; sleep 0.3; kill $srv 2>/dev/null || true; wait $srv 2>/dev/null || true
   python3 - "$s" "$cell" "$a" "$b" "$tck" >> "$outf" <<'PY'
import json,sys
s,cell,a,b,tck=sys.argv[1],sys.argv[2],sys.argv[3].split(),sys.argv[4].split(),int(sys.argv[5])
d=json.load(open('/tmp/split.json'))
rate=d['per_second']
u=(int(b[0])-int(a[0]))/tck/4; k=(int(b[1])-int(a[1]))/tck/4
print(f"{cell} {s} cpu_us/op={d['server']['cpu_us_per_op']:.3f} user_us/op={u/rate*1e6:.3f} sys_us/op={k/rate*1e6:.3f} rate={rate:.0f}")
PY
  done
 done
done
cat "$outf"
