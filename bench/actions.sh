#!/usr/bin/env bash
# `/ports` and `/top` round trips through the Telegram front end of
# `outpost bridge` to a real `outpost exporter --actions.config` over
# pinned TLS: update in (fake Bot API) → reply sent.
# Usage: [OUTPOST_BENCH_GAP_MS=2500] bench/actions.sh [N] [--release]
# (see BENCHMARKS.md, "Actions from the chat"; the gap before each request
# makes every /top sample afresh)
set -euo pipefail
n="${1:-30}"
profile=()
if [ "${2:-}" = "--release" ]; then profile=(--release); fi
cd "$(dirname "$0")/.."
OUTPOST_BENCH_N="$n" cargo test "${profile[@]}" --test it chat_actions::action_round_trip -- --ignored --nocapture 2>&1 |
  grep -E '^action round trip|test result'
