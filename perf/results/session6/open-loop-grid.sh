#!/usr/bin/env bash
# ringws alone at 50,000 msgs/s over 100 connections: each idle mode (halt,
# guest polling 200 µs, no halt) with and without SCHED_FIFO, two rounds.
# Run from the repo root as root: bash perf/results/session6/open-loop-grid.sh
ulimit -n 20000
one(){ pre=""; [ "$1" = fifo ] && pre="chrt -f 50"; $pre taskset -c 0 target/release/ringws --bind 127.0.0.1:9321 --workers 1 --log warn & srv=$!; sleep 0.5; $pre taskset -c 1 target/release/ringws-bench echo --connections 100 --size 16 --rate 50000 --binary --url ws://127.0.0.1:9321/ --duration 4 --warmup 1 --server-pid $srv --json /tmp/ol.json >/dev/null 2>&1; python3 -c "
import json;d=json.load(open('/tmp/ol.json'));l=d['latency_us'];print('$1 $2', round(d['per_second']), 'cpu/op', round(d['server']['cpu_us_per_op'],1), 'p50', round(l['p50']), 'p99', round(l['p99']), 'p999', round(l['p999']))"; kill $srv; wait $srv 2>/dev/null; }
p=/sys/module/haltpoll/parameters/guest_halt_poll_ns
for r in 1 2; do
for f in fifo other; do
 one $f halt
 echo 200000 > $p; one $f poll200us; echo 0 > $p
 for c in 0 1; do echo 1 > /sys/devices/system/cpu/cpu$c/cpuidle/state1/disable; done
 one $f no-halt
 for c in 0 1; do echo 0 > /sys/devices/system/cpu/cpu$c/cpuidle/state1/disable; done
done; done
