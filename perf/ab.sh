#!/usr/bin/env bash
# A/B of ringws configurations (or builds), optionally beside peer servers,
# over echo cells. Runs alternate (every variant and peer once per round) so
# that drift on this shared machine hits them alike; server on CPU 0 and load
# on CPU 1 under SCHED_FIFO. Writes OUT/<cell>/<label>-<run>.json
# (ringws-bench reports: server CPU per message in .server.cpu_us_per_op) and
# prints per cell and label the median server CPU per message, every run's
# figure and the median msgs/s (also in OUT/summary.md).
#
#   VARIANTS='direct-off=--direct-recv-min 0;direct-on=' PEERS=fastwebsockets \
#     CELLS="1048576:1:16 65536:100:16" OUT="$(bash perf/run-dir.sh)/x" perf/ab.sh 4
#
# VARIANTS: `;`-separated LABEL=FLAGS (flags for `ringws`, io_uring, one
# worker), or LABEL@BINARY=FLAGS to run another ringws build (say, the
# previous commit's, built into another target directory).
# PEERS: space-separated peer names (peer-NAME binaries: fastwebsockets,
# tungstenite, uws). CELLS: space-separated SIZE:CONNECTIONS:DEPTH (binary
# echo; SIZE:CONNECTIONS:DEPTH:text for text), or `connect` (the handshake
# storm: CPU per upgrade). NO_BUILD=1
# skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
IFS=';' read -r -a variants <<<"${VARIANTS:?set VARIANTS, e.g. VARIANTS='a=;b=--direct-recv-min 0'}"
cells=${CELLS:-"1048576:1:16"}
peers=${PEERS:-}
out=${OUT:-$(bash perf/run-dir.sh)/ab}
bin="${CARGO_TARGET_DIR:-target}/release"
if [ -z "${NO_BUILD:-}" ]; then
  cargo build --release -p ringws -p ringws-bench -p ringws-peers
  [[ " $peers " != *" uws "* ]] || bash bench/peers/uws/build.sh "$bin"
fi
port=${PORT:-9307}
ulimit -n "$(ulimit -Hn)"

# run_one LABEL JSON SERVER-COMMAND...
run_one() {
  local label=$1 json=$2
  shift 2
  chrt -f 50 taskset -c 0 "$@" >/dev/null 2>&1 &
  local srv=$!
  sleep 0.5
  local load=(connect)
  if [ "$cell" != connect ]; then
    load=(echo --connections "$conns" --size "$size" --depth "$depth")
    [ "$kind" = text ] || load+=(--binary)
  fi
  chrt -f 50 taskset -c 1 "$bin/ringws-bench" "${load[@]}" --url "ws://127.0.0.1:$port/" \
    --duration 4 --warmup 1 --server-pid "$srv" --label "$label" --json "$json" >/dev/null ||
    echo "run failed: $label $json" >&2
  kill -INT "$srv" 2>/dev/null || true
  sleep 0.3
  kill "$srv" 2>/dev/null || true
  wait "$srv" 2>/dev/null || true
}

for r in $(seq 1 "$runs"); do
  for cell in $cells; do
    IFS=: read -r size conns depth kind <<<"$cell"
    dir="$out/echo-${size}B-c${conns}-d${depth}${kind:+-$kind}"
    [ "$cell" = connect ] && dir="$out/connect"
    mkdir -p "$dir"
    for v in "${variants[@]}"; do
      label=${v%%=*}
      read -r -a flags <<<"${v#*=}"
      server="$bin/ringws"
      if [[ $label == *@* ]]; then
        server=${label#*@}
        label=${label%%@*}
      fi
      run_one "$label" "$dir/$label-$r.json" "$server" --bind "127.0.0.1:$port" --workers 1 \
        --backend uring --log warn "${flags[@]}"
    done
    for p in $peers; do
      run_one "$p" "$dir/$p-$r.json" "$bin/peer-$p" --port "$port"
    done
  done
done
python3 - "$out" <<'PY' | tee "$out/summary.md"
import glob, json, os, statistics, sys
out = sys.argv[1]
print(f"\n| cell | variant | server CPU µs/msg (median) | runs | msgs/s (median) | p99 µs (median) |\n|---|---|---:|---|---:|---:|")
for d in sorted(glob.glob(os.path.join(out, "*"))):
    if not os.path.isdir(d):
        continue
    by = {}
    for f in glob.glob(os.path.join(d, "*.json")):
        label = os.path.basename(f).rsplit("-", 1)[0]
        j = json.load(open(f))
        by.setdefault(label, []).append((j["server"]["cpu_us_per_op"], j["per_second"], j["latency_us"]["p99"]))
    for label, v in sorted(by.items()):
        cpu = [c for c, _, _ in v]
        rate = [p for _, p, _ in v]
        p99 = [q for _, _, q in v]
        runs = " ".join(f"{c:.3g}" for c in cpu)
        print(f"| {os.path.basename(d)} | {label} | {statistics.median(cpu):.3g} | {runs} | {statistics.median(rate):,.0f} | {statistics.median(p99):,.0f} |")
PY
