#!/usr/bin/env bash
# `/mon_cpu_picture` round trip through the Telegram front end of
# `outpost bridge`: update in (fake Bot API, long polling) → photo sent,
# against a real outpost exporter + Prometheus + Alertmanager on loopback.
# Usage: bench/bot.sh [N] [--release]   (see BENCHMARKS.md, "Chat over Telegram")
set -euo pipefail
n="${1:-50}"
profile=()
if [ "${2:-}" = "--release" ]; then profile=(--release); fi
cd "$(dirname "$0")/.."
OUTPOST_BENCH_N="$n" cargo test "${profile[@]}" --test it bot::picture_round_trip -- --ignored --nocapture 2>&1 |
  grep -E '^bot round trip|test result'
