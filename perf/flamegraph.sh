#!/usr/bin/env bash
# Flamegraph of a server under one ringws-bench scenario.
#   perf/flamegraph.sh [server] [scenario args...]
#   perf/flamegraph.sh ringws-uring echo --connections 100 --size 16 --depth 16
# server: ringws-uring | ringws-epoll | tungstenite | fastwebsockets | uws (default ringws-uring).
# Samples with the cpu-clock software event (hardware counters are not exposed
# on these VMs), call graphs by frame pointers/DWARF, folded and drawn by inferno.
# Writes <run folder>/flame-<server>-<scenario>.svg (perf/run-dir.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
server=${1:-ringws-uring}; shift || true
[ $# -gt 0 ] || set -- echo --connections 100 --size 16 --depth 16 --binary
port=9201
command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf; }
command -v inferno-flamegraph >/dev/null || cargo install --locked inferno
[ -n "${NO_BUILD:-}" ] || cargo build --release -p ringws -p ringws-peers -p ringws-bench  # NO_BUILD=1: use the binaries as they are
case $server in
  ringws-uring) cmd=(target/release/ringws --bind 127.0.0.1:$port --workers 1 --backend uring --log warn) ;;
  ringws-epoll) cmd=(target/release/ringws --bind 127.0.0.1:$port --workers 1 --backend epoll --log warn) ;;
  tungstenite) cmd=(target/release/peer-tungstenite --port $port --threads 1) ;;
  fastwebsockets) cmd=(target/release/peer-fastwebsockets --port $port --threads 1) ;;
  uws) cmd=(target/release/peer-uws --port $port) ;;  # bash bench/peers/uws/build.sh target/release first
  *) echo "unknown server $server" >&2; exit 1 ;;
esac
ulimit -n 65536 2>/dev/null || true
data=$(mktemp /tmp/ringws-perf.XXXXXX)
taskset -c 0 "${cmd[@]}" &
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
sleep 1
# Record the server (by pid) for the load's warm-up + measured window.
perf record -e cpu-clock -F 4999 --call-graph dwarf,16384 -p $srv -o "$data" -- sleep 6.5 &
rec=$!
taskset -c 1 target/release/ringws-bench "$@" --url ws://127.0.0.1:$port/ --duration 5 --warmup 1 --label "$server" || true
wait $rec || true
# Named after the server and the scenario flags, so runs do not overwrite each other.
out=$(bash perf/run-dir.sh)/flame-$server-$(echo "$*" | tr -s ' ' '-' | tr -d '/').svg
mkdir -p "$(dirname "$out")"
folded=/tmp/flame-$server-$1.folded
perf script -i "$data" 2>/dev/null | inferno-collapse-perf > "$folded"
inferno-flamegraph --title "$server: $*" < "$folded" > "$out"
rm -f "$data"
echo "wrote $out (folded stacks: $folded)"
# Where the time goes, by leaf function (self time), top 25.
awk '{n=$NF; $NF=""; k=split($0,f,";"); leaf=f[k]; gsub(/ +$/,"",leaf); s[leaf]+=n; t+=n} END {for (l in s) printf "%6.2f%%  %s\n", 100*s[l]/t, l}' "$folded" | sort -rn | head -25
