#!/usr/bin/env bash
# Chat benchmark: chart render time (Rust/plotters vs Python/matplotlib, same
# chart) and the /mon_cpu_picture round trip through the engine against a
# local stack (real outpost exporter → Prometheus with 1 s scrapes).
# Usage: bench/chat.sh [RENDER_ITERATIONS] [ROUNDTRIP_ITERATIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
RENDER_N=${1:-200}
RT_N=${2:-100}
TARGET=${CARGO_TARGET_DIR:-target}

cargo build --release --bin outpost --example chat_bench >&2
BIN=$TARGET/release/outpost
BENCH=$TARGET/release/examples/chat_bench

echo "== chart render, Rust (plotters, bitmap backend, bundled font), 1000x600 PNG"
"$BENCH" render "$RENDER_N"
echo "== chart render, Python matplotlib (Agg), same chart"
if python3 -c 'import matplotlib' 2>/dev/null; then
  python3 bench/chart_matplotlib.py 50
else
  echo "matplotlib not installed (pip install matplotlib); skipped"
fi

echo "== round trip through the engine against the local stack"
DIR=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DIR"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
EPORT=$(port); PPORT=$(port); APORT=$(port)
"$BIN" exporter --web.listen-address "127.0.0.1:$EPORT" >/dev/null 2>&1 & PIDS+=($!)
cat > "$DIR/prometheus.yml" <<YML
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: outpost
    static_configs:
      - targets: ['127.0.0.1:$EPORT']
        labels: {agent: web1}
YML
prometheus --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/tsdb" \
  --web.listen-address="127.0.0.1:$PPORT" >/dev/null 2>&1 & PIDS+=($!)
printf 'route: {receiver: x}\nreceivers: [{name: x}]\n' > "$DIR/am.yml"
prometheus-alertmanager --config.file="$DIR/am.yml" --storage.path="$DIR/am" \
  --web.listen-address="127.0.0.1:$APORT" --cluster.listen-address= >/dev/null 2>&1 & PIDS+=($!)
echo "web1 127.0.0.1:$EPORT" > "$DIR/agents.txt"
# Let a few minutes' worth of samples not be needed: wait for 20 s of data.
for _ in $(seq 1 60); do
  if curl -sf "127.0.0.1:$PPORT/api/v1/query?query=up" | grep -q web1; then break; fi
  sleep 0.5
done
sleep 20
"$BENCH" roundtrip "$RT_N" "http://127.0.0.1:$PPORT" "http://127.0.0.1:$APORT" "$DIR/agents.txt" "$DIR/state.db"
