#!/usr/bin/env bash
# Runs a command with Receive Flow Steering on the loopback device, then
# restores the previous settings (also on Ctrl-C or a failure). Needs root.
#
#   perf/steer-rx.sh perf/user-sys-split.sh 2 "$(bash perf/run-dir.sh)/x.txt"
#
# Why: on plain loopback a `send` runs the *receiver's* TCP processing too
# (softirq on the sender's CPU, in the sender's context), so half of a
# server's "kernel time per message" is its client's receive path, and the
# client's sends carry the server's. With RFS each packet is processed on the
# CPU where its socket was last read (server on CPU 0, load on CPU 1), as two
# hosts would each process their own receives. The hand-over is an IPI per
# batch, which costs a VM exit on these machines, so absolute figures rise;
# read ratios between servers measured under the same setting.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: perf/steer-rx.sh COMMAND [ARGS...]" >&2; exit 2; }
q=/sys/class/net/lo/queues/rx-0
g=/proc/sys/net/core/rps_sock_flow_entries
[ -w $q/rps_cpus ] && [ -w $g ] || { echo "perf/steer-rx.sh: cannot write $q (not root, or no RPS)" >&2; exit 1; }
old_cpus=$(cat $q/rps_cpus) old_cnt=$(cat $q/rps_flow_cnt) old_entries=$(cat $g)
restore() {
  echo "$old_cpus" > $q/rps_cpus
  echo "$old_cnt" > $q/rps_flow_cnt
  echo "$old_entries" > $g
}
trap restore EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
echo 32768 > $g
echo 32768 > $q/rps_flow_cnt
# Every CPU may take packets; RFS picks the one that last read the socket.
printf '%x\n' $(((1 << $(nproc)) - 1)) > $q/rps_cpus
"$@"
