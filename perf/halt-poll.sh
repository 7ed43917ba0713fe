#!/usr/bin/env bash
# Runs a command with the guest polling up to NS nanoseconds before an idle
# vCPU halts (haltpoll cpuidle driver), then restores the setting (also on
# Ctrl-C or a failure). Needs root and the haltpoll driver.
#
#   perf/halt-poll.sh 200000 bench/compare --fifo
#
# Why: these VMs boot with guest_halt_poll_ns=0, so an idle vCPU halts at
# once and each wake-up goes through the host (an IPI, a VM exit, the host's
# scheduler), which dominates cells where the server or the client waits for
# every message. Polling 200 µs first turned 16 B × 1 connection × depth 1
# from about 2,300 to 27,500 messages/s for ringws (38,300 for uWebSockets),
# and server CPU per message from ~165 to ~15 µs
# (perf/results/2026-11-22-ed5c245/idle-modes/). Polling is idle time: it is not charged to the server.
# Compare perf/no-halt.sh (never halt), which helped less here: a vCPU that
# never halts seems to be descheduled by the host instead.
set -euo pipefail
[ $# -gt 1 ] || { echo "usage: perf/halt-poll.sh NS COMMAND [ARGS...]" >&2; exit 2; }
ns=$1; shift
p=/sys/module/haltpoll/parameters/guest_halt_poll_ns
[ -w $p ] || { echo "perf/halt-poll.sh: cannot write $p (no haltpoll driver, or not root)" >&2; exit 1; }
old=$(cat $p)
trap 'echo "$old" > $p' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
echo "$ns" > $p
"$@"
