#!/usr/bin/env bash
# Soak benchmark (not in CI): the release `ringws` (echo, 2 workers) under
# 10,000 connections for 30 minutes: 89 % idle holders (client keepalive
# pings every 20 s), 10 % echoers (a message every ~1 s, 16 B-64 KiB),
# 1 % slow readers (send 64 KiB every 0.5 s, read one message every 2 s),
# and 200 connects + echo + closes per second. Every 10 s: server RSS,
# descriptors, CPU per echoed message, echo p50/p99, errors
# (perf/soak.py); then chart.svg and summary.md (perf/soak_chart.py).
# Goal: RSS and descriptors flat (last 10 minutes within 2 % of minutes
# 5-10), 0 errors on the honest clients.
#
#   bash perf/soak.sh [MINUTES] [CONNECTIONS] [CHURN_PER_S]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}"
conns="${2:-10000}"
churn="${3:-200}"

python3 -c 'import websockets' 2>/dev/null || pip install --quiet websockets
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo build --release --bin ringws >/dev/null
out="perf/results/$(date -u +%F)-$(git rev-parse --short HEAD)/soak"
mkdir -p "$out"
port=$((20000 + RANDOM % 20000))
target/release/ringws --bind "127.0.0.1:$port" --workers 2 --log warn &
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
sleep 1
{
  echo "ringws $(git rev-parse --short HEAD), --workers 2, $(nproc) cores, $(uname -r)"
  echo "soak: $minutes min, $conns connections, $churn churn/s, started $(date -u +%FT%TZ)"
} >"$out/run.txt"
python3 perf/soak.py --url "ws://127.0.0.1:$port/" --server-pid "$srv" \
  --minutes "$minutes" --connections "$conns" --churn "$churn" --out "$out" | tee "$out/log.txt"
kill -TERM "$srv"
wait "$srv" || true
python3 perf/soak_chart.py "$out"
echo "results in $out"
