#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) from the committed
# inputs (seeds/, replay/, regressions/), when a nightly toolchain is
# present; installs cargo-fuzz if missing. A crash fails the run and leaves
# its input in artifacts/<target>/ (add it to regressions/<target>/ under a
# name that says what it found). New coverage lands in corpus/<target>/
# (git-ignored); with --minimize, replay/<target>/ is then rewritten as the
# minimized union of everything. The committed inputs are also replayed on
# stable by codec/tests/fuzz_replay.rs, as ordinary tests.
#
#   bash codec/fuzz/run.sh [--minimize] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"

minimize=false
if [[ "${1:-}" == "--minimize" ]]; then minimize=true; shift; fi
secs="${1:-60}"
targets=(handshake decoder inflate)

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: skipping, no nightly toolchain (rustup toolchain install nightly to run the targets)"
  exit 0
fi
if ! cargo +nightly fuzz --help >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  inputs=()
  for d in seeds replay regressions; do
    if [[ -d "$d/$t" ]]; then inputs+=("$d/$t"); fi
  done
  dict=()
  if [[ "$t" == handshake ]]; then dict=(-dict=handshake.dict); fi

  echo "fuzz: $t for ${secs}s"
  log="$(mktemp)"
  status=0
  cargo +nightly fuzz run "$t" "corpus/$t" "${inputs[@]}" -- \
    -max_total_time="$secs" -rss_limit_mb=4096 "${dict[@]}" >"$log" 2>&1 || status=$?
  # The fuzzer's summary (its progress lines left out), or its failure.
  grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|==[0-9]+==|SUMMARY|thread .* panicked|Test unit written)' "$log" || true
  if [[ "$status" != 0 ]]; then
    tail -40 "$log"
    echo "fuzz: $t failed (exit $status; the input is in artifacts/$t/)"
    exit 1
  fi
  rm -f "$log"

  if $minimize; then
    # -merge=1 copies into the first directory the inputs of the others
    # that add coverage: a minimized corpus.
    rm -rf "replay/$t.new"
    mkdir -p "replay/$t.new"
    cargo +nightly fuzz run "$t" "replay/$t.new" "corpus/$t" "${inputs[@]}" -- -merge=1 >/dev/null 2>&1
    rm -rf "replay/$t"
    mv "replay/$t.new" "replay/$t"
    echo "fuzz: replay/$t has $(find "replay/$t" -type f | wc -l) inputs"
  fi
done
