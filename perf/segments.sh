#!/usr/bin/env bash
# TCP segments per echoed message (both directions, from the kernel's
# counters, `nstat`), for ringws and uWebSockets: shows whether a server
# sends more segments than the load needs (pure ACKs, split writes).
# Loopback counts each segment once in InSegs and once in OutSegs; nothing
# else may use the network meanwhile.
#
#   CELLS="16:100:16 16:100:1" perf/segments.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
outf=${1:-/dev/stdout}
bin="${CARGO_TARGET_DIR:-target}/release"
command -v nstat >/dev/null || { apt-get update -qq && apt-get install -y -qq iproute2; }
ulimit -n 20000
{
for cell in ${CELLS:-16:100:16 16:100:1}; do
  IFS=: read -r size conns depth <<<"$cell"
  for s in ringws-uring uws; do
    case $s in
      ringws-uring) cmd=("$bin/ringws" --bind 127.0.0.1:9321 --workers 1 --backend uring --log warn);;
      uws) cmd=("$bin/peer-uws" --port 9321);;
    esac
    taskset -c 0 "${cmd[@]}" >/dev/null 2>&1 &
    srv=$!
    sleep 0.5
    nstat -n
    taskset -c 1 "$bin/ringws-bench" echo --connections "$conns" --size "$size" --depth "$depth" \
      --binary --url ws://127.0.0.1:9321/ --duration 3 --warmup 0 --json /tmp/segments.json >/dev/null 2>&1
    counters=$(nstat 2>/dev/null | awk '$1=="TcpOutSegs"||$1=="TcpExtTCPPureAcks"||$1=="TcpExtDelayedACKs"{printf "%s=%s ", $1, $2}')
    kill "$srv"; wait "$srv" 2>/dev/null || true
    python3 - "$cell" "$s" "$counters" <<'PY'
import json, sys
cell, s, counters = sys.argv[1], sys.argv[2], dict(kv.split("=") for kv in sys.argv[3].split())
d = json.load(open("/tmp/segments.json"))
msgs = d["per_second"] * d.get("duration_s", 3)
out = int(counters.get("TcpOutSegs", 0))
print(f"{cell} {s} messages={msgs:.0f} segments={out} per_message={out / msgs:.3f} "
      f"pure_acks={counters.get('TcpExtTCPPureAcks', 0)} delayed_acks={counters.get('TcpExtDelayedACKs', 0)}")
PY
  done
done
} | tee "$outf"
