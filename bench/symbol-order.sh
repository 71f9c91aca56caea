#!/usr/bin/env bash
# Regenerates link/symbol-order.txt: the functions the exporter runs, hottest
# first, for build.rs to hand to the linker (see build.rs for why).
#
# Builds the release binary (stripped, exactly as shipped: symbol hashes
# depend on the profile) with a linker map, runs it under callgrind (Debian
# package `valgrind`), which names the stripped code by address, and scrapes
# it in phases:
# startup, the first scrapes, steady back-to-back scrapes, an idle second.
# The list puts steady-state code first, then first-scrape, idle and startup
# code. Run it after a toolchain or dependency update (symbol hashes change)
# and commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
OUTPOST_LINK_MAP="$work/outpost.map" cargo build --release
# Resolved: callgrind names the object by its real path (target/ may be a link).
bin="$(realpath "$PWD/target/release/outpost")"
fixtures="$PWD/tests/fixtures"
# Two runs, each exporter's default collector set: on this host, and on the
# fixture tree (a bare-metal host's hwmon, md, ZFS, NFS… that this host may
# lack), so every default collector's code is listed.
profile() { # TAG FLAG...
  local tag=$1; shift
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/$tag" \
    "$bin" exporter --web.listen-address "127.0.0.1:$port" "$@" 2>"$work/$tag.log" &
  local pid=$!
  local url="http://127.0.0.1:$port"
  for _ in $(seq 1 300); do curl -sf -o /dev/null "$url/" && break; sleep 0.2; done
  scrape() {
    curl -sf -o /dev/null -H 'Accept-Encoding: gzip' "$url/metrics"
    curl -sf -o /dev/null "$url/metrics"
  }
  dump() { callgrind_control -d "$pid" >/dev/null; }
  sleep 1; dump                                   # TAG.1: startup
  for _ in 1 2; do scrape; done
  curl -sf -o /dev/null -H 'Accept: application/openmetrics-text; version=1.0.0' "$url/metrics"
  dump                                            # TAG.2: first scrapes
  for _ in $(seq 1 30); do scrape; done
  curl -sf -o /dev/null -H 'Accept: application/openmetrics-text; version=1.0.0' "$url/metrics"
  dump                                            # TAG.3: steady scrapes
  sleep 3; dump                                   # TAG.4: idle (page shedding)
  kill "$pid"; wait "$pid" || true                # TAG: shutdown
}
profile host
profile fix --path.procfs="$fixtures/proc" --path.sysfs="$fixtures/sys" \
  --path.rootfs="$fixtures/rootfs" --collector.textfile.directory="$fixtures/textfile" \
  --path.udev.data="$fixtures/rootfs/run/udev/data"

# How much of the list being replaced still named functions of this build
# (names carry hashes that move with the compiler, dependencies and generic
# code): the grouping's benefit shrinks with it.
[ -f link/symbol-order.txt ] && python3 - "$work/outpost.map" link/symbol-order.txt <<'PY' >&2
import sys
names = {l.split()[4] for l in open(sys.argv[1], errors="replace") if len(l.split()) == 5}
old = [l.strip() for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")]
print(f"previous list: {sum(n in names for n in old)} of {len(old)} names still in the binary")
PY
{
  echo "# Functions the exporter runs, hottest first; made by bench/symbol-order.sh"
  echo "# with $(rustc --version). build.rs passes this list to lld."
  python3 bench/callgrind_functions.py --map "$work/outpost.map" "$bin" \
    "$work/host.3" "$work/fix.3" "$work/host.2" "$work/fix.2" "$work/host.4" "$work/fix.4" \
    "$work/host.1" "$work/fix.1" "$work/host" "$work/fix"
} > link/symbol-order.txt
echo "link/symbol-order.txt: $(grep -vc '^#' link/symbol-order.txt) functions" >&2
