#!/usr/bin/env bash
# Bridge benchmark: intake throughput and ack latency, end-to-end latency,
# RSS, against a null-receiver anchor; then a pair of bridges on a PostgreSQL
# of its own (Debian's `postgresql`). Usage: bench/bridge/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --bin outpost --example bridge_bench
# A private copy: a shared target directory may be rebuilt meanwhile.
bin="$(mktemp -d)/outpost"
cp "$target/release/outpost" "$bin"
"$target/release/examples/bridge_bench" "$bin" "${1:-10}"
