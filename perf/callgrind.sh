#!/usr/bin/env bash
# Deterministic instruction count of the codec's hot path (decode + unmask +
# UTF-8 + echo header for 100,000 16-byte frames), under valgrind's callgrind;
# only `decode_and_echo` is counted (building the client frames is not).
# Instruction counts do not depend on the machine's load, so a regression shows
# without timing noise. Appends a line to instructions.jsonl in the run's folder (perf/run-dir.sh).
#   perf/callgrind.sh [frames]
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-100000}
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
cargo build --release -p ringws-bench --bin codec-workload
out=$(mktemp /tmp/callgrind.XXXXXX)
# The unmask kernel is picked at run time from CPUID; valgrind reports the
# host's AVX2, so the count covers the AVX2 path on this machine kind.
valgrind --tool=callgrind --toggle-collect='*decode_and_echo*' --callgrind-out-file="$out" target/release/codec-workload "$frames" >/dev/null 2>"$out.log"
total=$(grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}')
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dir=$(bash perf/run-dir.sh); mkdir -p "$dir"
printf '{"date":"%s","rev":"%s","workload":"decode_and_echo: %s x 16B masked text frames in 4 KiB reads","instructions":%s,"per_frame":%.1f}\n' \
  "$(date -u +%FT%TZ)" "$rev" "$frames" "$total" "$(awk -v t="$total" -v f="$frames" 'BEGIN{print t/f}')" | tee -a "$dir/instructions.jsonl"
callgrind_annotate "$out" 2>/dev/null | head -30
rm -f "$out" "$out.log"
