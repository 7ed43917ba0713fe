#!/usr/bin/env bash
# Regenerates docs/conformance.md: runs the full suite (chapters 1-7, 9 up to
# 16 MiB, 10) against the reference peers and, when it is built, ringws on
# each backend; keeps each run's JSON in tests/reports/ and renders them side
# by side. Usage: [PEERS_ONLY=1] bash tests/conformance.sh [--max-size 16M]
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_SIZE=16M
[ "${1:-}" = "--max-size" ] && MAX_SIZE="${2:?--max-size needs a value}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p ringws-conformance -p ringws-peers
BIN="$CARGO_TARGET_DIR/release"
RUNNER="$BIN/ringws-conformance"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# start NAME PORT CMD...: starts a server, waits until the port accepts connections.
start() {
  local name=$1 port=$2; shift 2
  "$@" >"/tmp/ringws-conformance-$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$name did not start:"; cat "/tmp/ringws-conformance-$name.log"; return 1
}

REPORTS=()
suite() { # NAME PORT
  "$RUNNER" "ws://127.0.0.1:$2/" --agent "$1" --cases '1,2,3,4,5,6,7,9,10' \
    --max-size "$MAX_SIZE" --json "tests/reports/$1.json" --quiet || true
  REPORTS+=("tests/reports/$1.json")
}

if [ "${PEERS_ONLY:-0}" != 1 ] && cargo build --release -q --bin ringws 2>/dev/null && [ -x "$BIN/ringws" ]; then
  start ringws-uring 9301 "$BIN/ringws" --bind 127.0.0.1:9301 --backend uring && suite ringws-uring 9301
  start ringws-epoll 9302 "$BIN/ringws" --bind 127.0.0.1:9302 --backend epoll && suite ringws-epoll 9302
else
  echo "ringws binary not available: tables show the peers only"
fi
start tokio-tungstenite 9303 "$BIN/peer-tungstenite" --port 9303 && suite tokio-tungstenite 9303
start fastwebsockets 9304 "$BIN/peer-fastwebsockets" --port 9304 && suite fastwebsockets 9304
# uWebSockets (prebuilt C library; Linux x86-64 only), compression on as in its own Autobahn server.
if bash bench/peers/uws/build.sh "$BIN"; then
  start uwebsockets 9305 "$BIN/peer-uws" --port 9305 --deflate && suite uwebsockets 9305
else
  echo "uWebSockets peer not built: left out"
fi

RINGWS_CONFORMANCE_COMMAND="bash tests/conformance.sh  # PEERS_ONLY=1: the peers alone" "$RUNNER" --render docs/conformance.md --notes tests/reports/notes.md "${REPORTS[@]}" || true
echo "docs/conformance.md updated"
