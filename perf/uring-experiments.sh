#!/usr/bin/env bash
# Build (release) and run the io_uring experiments in perf/uring-experiments:
#   sendzc  -> <run folder>/uring-experiments-sendzc.json
#   msgring -> <run folder>/uring-experiments-msgring.json
# (<run folder>: perf/run-dir.sh). The crate is a workspace of its own, not a
# member of the root one; its binaries go to the root target/ all the same.
# Usage: perf/uring-experiments.sh [--quick] [sendzc|msgring ...]
# The machine is shared: waits while /tmp/BENCH_RUNNING exists (someone else
# is measuring), and holds it while our own measurements run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
LOCK=/tmp/BENCH_RUNNING

quick=()
exps=()
for a in "$@"; do
    case "$a" in
        --quick) quick=(--quick) ;;
        sendzc|msgring) exps+=("$a") ;;
        *) echo "usage: $0 [--quick] [sendzc|msgring ...]" >&2; exit 2 ;;
    esac
done
[ ${#exps[@]} -gt 0 ] || exps=(sendzc msgring)

wait_for_quiet() {
    while [ -e "$LOCK" ]; do
        echo "$LOCK exists: another measurement is running; waiting 30 s" >&2
        sleep 30
    done
}

wait_for_quiet
cargo build --release --manifest-path perf/uring-experiments/Cargo.toml
dir=$(bash perf/run-dir.sh); mkdir -p "$dir"

held=0
release() { if [ "$held" = 1 ]; then rm -f "$LOCK"; held=0; fi; }
trap release EXIT INT TERM

for e in "${exps[@]}"; do
    wait_for_quiet
    touch "$LOCK"; held=1
    echo "== $e (kernel $(uname -r))"
    # Each run stays under 3 minutes; the timeout is a backstop.
    timeout 175 "$CARGO_TARGET_DIR/release/$e" "${quick[@]}" --out "$dir/uring-experiments-$e.json"
    release
done
