#!/usr/bin/env bash
# A/B of the receive ring: ringws on io_uring with several ring geometries
# (COUNTxSIZE, ":whole" = without incremental consumption) over several echo
# cells, through perf/ab.sh (alternating runs, medians, OUT/summary.md).
#
#   perf/recv-ring-ab.sh [runs]                (default 3; NO_BUILD=1 skips the build)
#   GEOS="128x65536:whole 16x131072" CELLS="65536:100:16 16:100:1" OUT="$(bash perf/run-dir.sh)/x" perf/recv-ring-ab.sh 5
#
# CELLS entries are SIZE:CONNECTIONS:DEPTH. Defaults: the comparison made when the ring became incremental
# (whole 128 x 64 KiB, the previous default, against incremental rings) over
# the echo cells the ring can move.
set -euo pipefail
cd "$(dirname "$0")/.."
variants=()
for geo in ${GEOS:-"128x65536:whole 128x65536 32x131072 16x131072"}; do
  flags="--recv-buffers ${geo%%:*}"
  [[ $geo == *:whole ]] && flags+=" --whole-recv-buffers"
  variants+=("${geo/:/-}=$flags")
done
VARIANTS=$(IFS=';'; echo "${variants[*]}") \
  CELLS=${CELLS:-"16:100:16 1024:100:16 65536:100:16 1048576:1:16 16:100:1"} \
  OUT=${OUT:-$(bash perf/run-dir.sh)/recv-ring-ab} PEERS="" \
  exec perf/ab.sh "$@"
