#!/usr/bin/env bash
# Prints where a run's results go: perf/results/<UTC date>-<commit checked out>,
# with "-dirty" when tracked files differ from that commit (the run measures the
# working tree). The layout is indexed in perf/results/README.md; bench/compare
# names its default --out the same way. Run from the repository root.
set -euo pipefail
commit=$(git rev-parse --short=7 HEAD 2>/dev/null || echo unknown-commit)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit-dirty"
fi
echo "perf/results/$(date -u +%F)-$commit"
