#!/usr/bin/env python3
"""Lists the functions of the exporter that run natively but that a callgrind
profile may not see.

Usage: native_functions.py --map LINKMAP BINARY SCRAPES [EXPORTER FLAG...]

Under valgrind a program sees valgrind's CPU, not the host's: code chosen at
run time by CPU feature (crc32 with AVX-512 or PCLMUL, SIMD header parsing,
memchr) takes another branch there, and timing-dependent paths (the
runtime's timer wheel, a netlink answer split differently) may not run at
all. Any such function left out of link/symbol-order.txt sits somewhere in
the binary's 12 MB of code, and the kernel maps 64 KiB around each page a
scrape touches: each one costs up to 64 KiB of resident set.

This runs BINARY natively as an exporter with FLAGs, scrapes it, lets it
drop its code pages (residency.rs: after a second of idleness), then scrapes
it SCRAPES more times under `perf record` twice: once for every page fault
(the first instruction that touches each 64 KiB window of code), once
sampling the instruction pointer at a high rate. Prints the mangled name of
every function in BINARY those saw, most often first. Needs `perf` (Debian
`linux-perf`) and permission to use it (root, or kernel.perf_event_paranoid
<= 1).
"""
import bisect
import collections
import sys

from exporter import Exporter, samples_after_drop
from lldmap import load_bias, text_symbols


def main():
    args = sys.argv[1:]
    if len(args) < 4 or args[0] != "--map":
        sys.exit(__doc__)
    map_path, binary, scrapes, flags = args[1], args[2], int(args[3]), args[4:]
    addrs, names = text_symbols(map_path)
    seen = collections.Counter()
    with Exporter(binary, flags) as exporter:
        bias = load_bias(exporter.pid, binary)
        if bias is None:
            sys.exit(f"{binary} is not mapped in {exporter.pid}")
        for event in [["-e", "page-faults", "-c", "1"], ["-e", "cpu-clock", "-F", "20000"]]:
            for at in samples_after_drop(exporter, bias, event, scrapes, "ip"):
                k = bisect.bisect_right(addrs, at) - 1
                if 0 <= k and at - addrs[k] < 1 << 20:
                    seen[names[k]] += 1
    for name, _ in seen.most_common():
        print(name)


if __name__ == "__main__":
    main()
