#!/usr/bin/env bash
# Re-measures the hostile-peer memory probes against the release `ringws`
# (one worker, default limits, a fresh server per probe, RSS from /proc) on
# both backends, at the full sizes of docs/reliability.md:
#   - 1,000 connections announce a 15 MiB frame and send one byte;
#   - 300 connections send 40 KiB of a 15 MiB frame;
#   - 40 connections send 8 MiB of a 15 MiB frame, then vanish (RSS 10 s later);
#   - the budget: 1,000 peers × 1 MiB of 15 MiB announced (plus 400 × 40 KiB)
#     against --memory-budget 256MiB while a client echoes 1 KiB messages.
# The probes are the engine's hostile_memory and memory_budget tests, scaled
# up through environment variables and pointed at the release binary
# (RINGWS_BIN); their bounds are asserted as in CI.
#
#   OUT="$(bash perf/run-dir.sh)/memory-probes" perf/memory-probes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$(bash perf/run-dir.sh)/memory-probes}
mkdir -p "$out"
bin=${RINGWS_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -p ringws --bin ringws
  bin="${CARGO_TARGET_DIR:-target}/release/ringws"
fi
ulimit -n "$(ulimit -Hn)"
export RINGWS_BIN=$bin RINGWS_PROBE_FULL=1
RINGWS_PROBE_VANISH_CONNS=40 RINGWS_PROBE_VANISH_MIB=8 \
  cargo nextest run -p ringws --test hostile_memory --no-capture --test-threads 1 \
  2>&1 | grep -E "RSS|panicked|PASS|FAIL" | tee "$out/follow-the-bytes.txt"
RINGWS_PROBE_BUDGET_MIB=256 RINGWS_PROBE_BIG=1000 RINGWS_PROBE_SMALL=400 \
  cargo nextest run -p ringws --test memory_budget --no-capture \
  2>&1 | grep -E "epoll|uring|panicked|PASS|FAIL" | tee "$out/budget.txt"
{
  echo "# Memory probes"
  echo
  echo "ringws $(git rev-parse --short HEAD), $(date -u +%FT%TZ), $(nproc) CPUs,"
  echo "$(uname -r); the machine was shared with other builds (RSS figures do not depend on speed)."
  echo
  echo '```'
  cat "$out/follow-the-bytes.txt" "$out/budget.txt"
  echo '```'
} > "$out/README.md"
echo "wrote $out"
