#!/usr/bin/env bash
# Where each server's CPU per message goes, by kernel path: how much is the
# TCP work that every server does for the same segments (the floor no server
# design removes) and how much is the server's own.
#
#   CELLS="16:100:1 16:100:16" perf/kernel-floor.sh 2 "$(bash perf/run-dir.sh)/x.txt"
#
# For each cell, run and server (ringws io_uring, uWebSockets; alternating),
# server on CPU 0 and load on CPU 1 under SCHED_FIFO, `perf record -g` (the
# cpu-clock event) on the server for 3 s of the load's 5, and the fraction
# of samples under:
#   tcp_sendmsg   the server's sends, including (on loopback) the peer's
#                 receive that runs inside them as softirq
#   softirq       that receive-side part alone (net_rx_action)
#   tcp_recvmsg   the server's receives (the copy out of the socket)
#   user          the server's own code (user space)
# times the run's server CPU per message (ringws-bench's figure). The floor
# is tcp_sendmsg + tcp_recvmsg: one receive and one send per segment, which
# a server answering the same messages cannot skip.
# Wrap in perf/halt-poll.sh 200000 as for the other measurements.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-2}; outf=${2:-$(bash perf/run-dir.sh)/kernel-floor.txt}
mkdir -p "$(dirname "$outf")"
bin="${CARGO_TARGET_DIR:-target}/release"
command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf; }
ulimit -n 20000
port=9323
data=$(mktemp /tmp/ringws-floor.XXXXXX)
trap 'rm -f "$data" "$data.json"' EXIT
printf '| cell | server | run | CPU µs/msg | tcp_sendmsg | of which softirq | tcp_recvmsg | floor (send + recv) | user | rest of kernel |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n' | tee "$outf"
for r in $(seq 1 "$runs"); do
  for cell in ${CELLS:-16:100:1 16:100:16}; do
    IFS=: read -r size conns depth <<<"$cell"
    for s in ringws uws; do
      case $s in
        ringws) cmd=("$bin/ringws" --bind 127.0.0.1:$port --workers 1 --backend uring --log warn) ;;
        uws) cmd=("$bin/peer-uws" --port $port) ;;
      esac
      chrt -f 50 taskset -c 0 "${cmd[@]}" >/dev/null 2>&1 &
      srv=$!
      sleep 0.5
      chrt -f 50 taskset -c 1 "$bin/ringws-bench" echo --connections "$conns" --size "$size" \
        --depth "$depth" --binary --url "ws://127.0.0.1:$port/" --duration 5 --warmup 1 \
        --server-pid "$srv" --json "$data.json" >/dev/null &
      load=$!
      sleep 1.5
      perf record -q -g -e cpu-clock -F 4999 -p "$srv" -o "$data" -- sleep 3 >/dev/null 2>&1
      wait "$load"
      kill -INT "$srv"; sleep 0.3; kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true
      cpu=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["server"]["cpu_us_per_op"])' "$data.json")
      perf report -i "$data" --children --sort sym --stdio -g none 2>/dev/null >"$data.txt"
      perf report -i "$data" --no-children --sort dso --stdio -g none 2>/dev/null >"$data.dso"
      python3 - "$cell" "$s" "$r" "$cpu" "$data.txt" "$data.dso" <<'PY' | tee -a "$outf"
import re, sys
cell, server, run, cpu, syms, dsos = sys.argv[1:]
cpu = float(cpu)
children = {}
for line in open(syms):
    m = re.match(r"\s*([\d.]+)%\s+([\d.]+)%\s+\[[k.]\]\s+(\S+)", line)
    if m:
        children.setdefault(m.group(3), float(m.group(1)))
kernel = sum(float(m.group(1)) for line in open(dsos)
             if (m := re.match(r"\s*([\d.]+)%\s+\[kernel", line)))
send = children.get("tcp_sendmsg", 0.0)
soft = children.get("net_rx_action", 0.0)
recv = children.get("tcp_recvmsg", 0.0)
user = 100.0 - kernel
rest = kernel - send - recv
us = lambda p: f"{p / 100 * cpu:.3g} ({p:.0f}%)"
print(f"| {cell} | {server} | {run} | {cpu:.3g} | {us(send)} | {us(soft)} | {us(recv)} | {us(send + recv)} | {us(user)} | {us(rest)} |")
PY
      rm -f "$data.txt" "$data.dso"
    done
  done
done
