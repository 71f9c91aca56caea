#!/usr/bin/env bash
# Regenerates link/symbol-order.txt: the functions the exporter runs, hottest
# first, for build.rs to hand to the linker (see build.rs for why).
#
# Builds the release binary (stripped, exactly as shipped: symbol hashes
# depend on the profile) with a linker map, runs it under callgrind (Debian
# package `valgrind`), which names the stripped code by address, and scrapes
# it in phases:
# startup, the first scrapes, steady back-to-back scrapes, an idle second;
# then runs it natively under perf for what valgrind's CPU does not run
# (bench/native_functions.py), and once more under lackey for the read-only
# data a scrape reads (bench/rodata_sections.py, then natively for what
# lackey missed, bench/native_rodata.py: link/rodata-order.ld).
# The list puts steady-state code first, grouped by the kinds of run that
# use it (bench/group_by_run.py), then first-scrape, idle and startup code;
# the read-only data list is grouped the same way. Run it after a toolchain
# or dependency update (symbol hashes change) and commit the result.
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
fixture_paths=(--path.procfs="$fixtures/proc" --path.sysfs="$fixtures/sys"
  --path.rootfs="$fixtures/rootfs" --collector.textfile.directory="$fixtures/textfile"
  --path.udev.data="$fixtures/rootfs/run/udev/data")
# Each also with the netlink modes off: /proc/net/dev and /proc/net/arp are
# what the fixture tree has, and what bench/exporter.py compares.
nl_off=(--no-collector.netdev.netlink --no-collector.arp.netlink)
profile host
profile hostnl "${nl_off[@]}"
profile fix "${fixture_paths[@]}"
profile fixnl "${fixture_paths[@]}" "${nl_off[@]}"

# Code valgrind's CPU does not run (feature-dispatched SIMD, timing-dependent
# paths) but the host's does, seen natively with perf; skipped without perf.
: > "$work/native.0"; : > "$work/native.1"; : > "$work/native.3"
if command -v perf >/dev/null; then
  # Numbered by the kind of run, as for group_by_run.py below.
  native() { # POSITION FLAG...
    local pos=$1; shift
    python3 bench/native_functions.py --map "$work/outpost.map" "$bin" 300 "$@" > "$work/native.$pos" \
      || echo "native pass failed (perf permissions?): the list has callgrind's functions only" >&2
  }
  native 0
  native 1 "${nl_off[@]}"
  native 3 "${fixture_paths[@]}" "${nl_off[@]}"
else
  echo "no perf (Debian linux-perf): the list has callgrind's functions only" >&2
fi

# How much of the list being replaced still named functions of this build
# (names carry hashes that move with the compiler, dependencies and generic
# code): the grouping's benefit shrinks with it.
[ -f link/symbol-order.txt ] && python3 - "$work/outpost.map" link/symbol-order.txt <<'PY' >&2
import sys
names = {l.split()[4] for l in open(sys.argv[1], errors="replace") if len(l.split()) == 5}
old = [l.strip() for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")]
print(f"previous list: {sum(n in names for n in old)} of {len(old)} names still in the binary")
PY
cg() { python3 bench/callgrind_functions.py --map "$work/outpost.map" "$bin" "$@"; }
{
  echo "# Functions the exporter runs, hottest first; made by bench/symbol-order.sh"
  echo "# with $(rustc --version). build.rs passes this list to lld."
  # Steady scrapes, grouped by the kinds of run that use them (host 0,
  # host without netlink 1, fixture tree 2, fixture tree without netlink 3;
  # callgrind's, then what only the native runs showed), then first scrapes,
  # idle, startup, shutdown; each name once.
  cg "$work/host.3" > "$work/steady.0"
  cg "$work/hostnl.3" > "$work/steady.1"
  cg "$work/fix.3" > "$work/steady.2"
  cg "$work/fixnl.3" > "$work/steady.3"
  cg "$work"/{host,hostnl,fix,fixnl}.2 "$work"/{host,hostnl,fix,fixnl}.4 \
    "$work"/{host,hostnl,fix,fixnl}.1 "$work"/{host,hostnl,fix,fixnl} > "$work/rest"
  python3 bench/group_by_run.py 0:"$work/steady.0" 1:"$work/steady.1" 2:"$work/steady.2" \
    3:"$work/steady.3" 0:"$work/native.0" 1:"$work/native.1" 3:"$work/native.3" --then "$work/rest"
} > link/symbol-order.txt
echo "link/symbol-order.txt: $(grep -vc '^#' link/symbol-order.txt) functions" >&2

# The read-only data a scrape reads (string literals, tables), placed first
# in an output section of its own; the merged string and constant pools
# (`.rodata.str*`, `.rodata.cst*`, shared with all other code) last.
# Grouped like the code: this host's only, both, the fixture tree's only.
python3 bench/rodata_sections.py --map "$work/outpost.map" "$bin" > "$work/rodata.0"
python3 bench/rodata_sections.py --map "$work/outpost.map" "$bin" \
  "${fixture_paths[@]}" "${nl_off[@]}" > "$work/rodata.3"
# And what only the native runs read (time-dependent paths; needs perf).
: > "$work/native_ro.0"; : > "$work/native_ro.3"
if command -v perf >/dev/null; then
  python3 bench/native_rodata.py --map "$work/outpost.map" "$bin" > "$work/native_ro.0" \
    || echo "native read-only data pass failed (perf permissions?)" >&2
  python3 bench/native_rodata.py --map "$work/outpost.map" "$bin" \
    "${fixture_paths[@]}" "${nl_off[@]}" > "$work/native_ro.3" \
    || echo "native read-only data pass failed (perf permissions?)" >&2
fi
python3 bench/group_by_run.py 0:"$work/rodata.0" 3:"$work/rodata.3" \
  0:"$work/native_ro.0" 3:"$work/native_ro.3" > "$work/rodata"
{
  echo "/* Read-only data an exporter scrape reads, most read first; made by"
  echo "   bench/symbol-order.sh with $(rustc --version)."
  echo "   build.rs passes this script to lld. */"
  echo "SECTIONS {"
  echo "  .rodata.hot : {"
  awk '!seen[$0]++' "$work/rodata" | { grep -v '^\.rodata\.\(str\|cst\)' || true; } | sed 's/.*/    *("&")/'
  awk '!seen[$0]++' "$work/rodata" | { grep '^\.rodata\.\(str\|cst\)' || true; } | sed 's/.*/    *("&")/'
  echo "  }"
  echo "} INSERT BEFORE .rodata;"
} > link/rodata-order.ld
echo "link/rodata-order.ld: $(grep -c '^    \*(' link/rodata-order.ld) sections" >&2
