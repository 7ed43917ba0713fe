#!/usr/bin/env bash
# `perf stat` of a running server process over one load run: context switches,
# CPU migrations, page faults, task-clock, and cycles/instructions where the
# machine exposes hardware counters (these VMs do not: those lines read
# "not supported").
#   perf/stat.sh <server-pid> [seconds]
set -euo pipefail
pid=${1:?server pid}; secs=${2:-5}
command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf; }
perf stat -e task-clock,context-switches,cpu-migrations,page-faults,cycles,instructions -p "$pid" -- sleep "$secs"
