#!/usr/bin/env bash
# Runs a command with the CPUs' halting idle states disabled, then restores
# them (also on Ctrl-C or a failure). Needs root.
#
#   perf/no-halt.sh bench/compare --fifo --cases echo/16B/c100/r
#   CPUS="0 1" perf/no-halt.sh perf/ab.sh 4
#
# Why: on these VMs (Firecracker, cpuidle driver haltpoll with
# guest_halt_poll_ns=0) an idle vCPU halts at once, and waking it takes the
# host hundreds of microseconds to milliseconds. Every message that finds the
# server or the load generator asleep pays that, so single-connection cells
# measured the host's wake-up, not the servers. perf/halt-poll.sh (poll, then
# halt) did better here than this script (docs/benchmarks.md, "What is measured and why").
# With only the POLL state left, an idle
# vCPU spins in the guest kernel until work arrives, like `idle=poll` or
# `cpupower idle-set -D 0` on bare metal. The spinning is idle time: it is not
# charged to the server's CPU time.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: perf/no-halt.sh COMMAND [ARGS...]" >&2; exit 2; }
cpus=${CPUS:-$(seq 0 $(($(nproc) - 1)))}
saved=()
restore() {
  local entry
  for entry in "${saved[@]}"; do
    echo "${entry#*=}" > "${entry%%=*}" 2>/dev/null || true
  done
}
trap restore EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
for c in $cpus; do
  for st in /sys/devices/system/cpu/cpu$c/cpuidle/state*; do
    [ -e "$st/disable" ] || continue
    [ "$(cat "$st/name")" = POLL ] && continue
    saved+=("$st/disable=$(cat "$st/disable")")
    if ! echo 1 > "$st/disable" 2>/dev/null; then
      echo "perf/no-halt.sh: cannot write $st/disable (not root?)" >&2
      exit 1
    fi
  done
done
[ ${#saved[@]} -gt 0 ] || echo "perf/no-halt.sh: no halting idle state to disable on CPUs $cpus" >&2
"$@"
