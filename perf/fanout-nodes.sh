#!/usr/bin/env bash
# Cross-node fan-out through Redis: `ringws --mode pubsub` on 1 node (no
# broker), 2 and 3 nodes joined by one redis-server, driven by
# `ringws-bench fanout` with the subscribers spread over the nodes and the
# publisher on the first. Cells: 1,000 subscribers per node at 200
# publishes/s, and 10 per node at 10,000 publishes/s, 16 B and 1 KiB.
# Reports deliveries/s, publish-to-delivery p50/p99 over all subscribers,
# and the first node's CPU per message it delivered (its CPU ÷ its share of
# the deliveries; it also publishes to Redis). Results and summary.md under
# perf/results/<date>-<commit>/fanout-nodes/.
#
#   bash perf/fanout-nodes.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
ulimit -n 65536 2>/dev/null || true
cargo build --release -p ringws --bin ringws >/dev/null
cargo build --release -p ringws-bench --bin ringws-bench >/dev/null
out="perf/results/$(date -u +%F)-$(git rev-parse --short HEAD)/fanout-nodes"
mkdir -p "$out"
base=$((20000 + RANDOM % 20000))
redis_port=$base
redis-server --port "$redis_port" --save '' --appendonly no --daemonize no >/dev/null &
redis=$!
pids=()
cleanup() { kill "${pids[@]}" "$redis" 2>/dev/null || true; }
trap cleanup EXIT
sleep 0.5
{
  echo "ringws $(git rev-parse --short HEAD); $(nproc) cores, $(uname -r); $(redis-server --version | cut -d' ' -f3)"
  echo "nodes: ringws --mode pubsub --workers 1 --idle-timeout 0, not pinned; load: ringws-bench fanout --threads 1, ${secs} s per cell after 2 s warm-up"
} >"$out/run.txt"

for nodes in 1 2 3; do
  pids=()
  urls=()
  for i in $(seq 1 "$nodes"); do
    port=$((base + i))
    redis_arg=()
    if [[ "$nodes" -gt 1 ]]; then redis_arg=(--redis "redis://127.0.0.1:$redis_port"); fi
    target/release/ringws --mode pubsub --workers 1 --idle-timeout 0 --log warn \
      --bind "127.0.0.1:$port" "${redis_arg[@]}" &
    pids+=($!)
    urls+=("ws://127.0.0.1:$port/topic/bench")
  done
  sleep 1
  also=()
  for u in "${urls[@]:1}"; do also+=(--also "$u"); done
  for cell in "1000 200 16" "1000 200 1024" "10 10000 16" "10 10000 1024"; do
    read -r per rate size <<<"$cell"
    name="fanout-${nodes}n-${per}x-${rate}r-${size}B"
    echo "== $name"
    target/release/ringws-bench fanout --url "${urls[0]}" "${also[@]}" \
      --subscribers $((per * nodes)) --rate "$rate" --size "$size" \
      --duration "$secs" --warmup 2 --server-pid "${pids[0]}" \
      --label "ringws ${nodes} node(s)" --json "$out/$name.json" | tail -3
  done
  kill -TERM "${pids[@]}"
  wait "${pids[@]}" 2>/dev/null || true
done

python3 - "$out" <<'PY'
import json, glob, os, sys
out = sys.argv[1]
rows = []
for f in sorted(glob.glob(f"{out}/fanout-*.json")):
    r = json.load(open(f))
    p = r["params"]
    n = p.get("nodes", 1)
    per = p["subscribers"] // n
    cpu = (r.get("server") or {}).get("cpu_us_per_op")
    rows.append((n, per, p["rate"], p["size"], r["per_second"], r["latency_us"]["p50"],
                 r["latency_us"]["p99"], cpu * n if cpu else float("nan"), r["errors"]))
rows.sort(key=lambda x: (x[1], x[2], x[3], x[0]))
base = {(r[1], r[2], r[3]): r for r in rows if r[0] == 1}
lines = ["| nodes | subscribers per node | publishes/s | size | deliveries/s | p50 µs | p99 µs | p50 − 1 node | first node's CPU per own delivery µs | × 1 node | errors |",
         "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
for r in rows:
    b = base.get((r[1], r[2], r[3]))
    dp = r[5] - b[5] if b else float("nan")
    cr = r[7] / b[7] if b and b[7] else float("nan")
    lines.append(f"| {r[0]} | {r[1]} | {r[2]:.0f} | {r[3]} B | {r[4]:.0f} | {r[5]:.0f} | {r[6]:.0f} | {dp:+.0f} | {r[7]:.3f} | {cr:.2f} | {r[8]} |")
open(f"{out}/summary.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
