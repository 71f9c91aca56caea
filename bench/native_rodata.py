#!/usr/bin/env python3
"""Lists read-only data the exporter reads natively that a lackey run may not
see.

Usage: native_rodata.py --map LINKMAP BINARY [EXPORTER FLAG...]

bench/rodata_sections.py records a scrape's reads under valgrind, where
everything runs some fifty times slower: paths that depend on time (a file
kept open for a minute checked again, the first scrape after an idle
second) go another way there. A section read only natively sits somewhere in
2 MB of read-only data and keeps a 64 KiB window of it resident: measured,
one 1-byte string constant cost 64 KiB on every scrape.

This runs BINARY natively with FLAGs, lets it drop its pages (residency.rs:
after a second of idleness), and records every page fault of the next
scrapes with its data address under `perf record -d`; once for a single
scrape after the drop, once for several back to back. Each fault names the
first read in a 64 KiB window, so a window whose first read is already
listed hides the others in it until the list's next run. Prints the
`.rodata` and `.rodata.hot` input sections (as in the lld map) the faults
fall in, most often first. Needs `perf` (Debian `linux-perf`) and permission
to use it.
"""
import bisect
import collections
import sys

from exporter import Exporter, samples_after_drop
from lldmap import input_sections, load_bias


def main():
    args = sys.argv[1:]
    if len(args) < 3 or args[0] != "--map":
        sys.exit(__doc__)
    map_path, binary, flags = args[1], args[2], args[3:]
    secs = input_sections(map_path, (".rodata", ".rodata.hot"))
    starts = [s for s, _, _ in secs]
    seen = collections.Counter()
    with Exporter(binary, flags) as exporter:
        bias = load_bias(exporter.pid, binary)
        if bias is None:
            sys.exit(f"{binary} is not mapped in {exporter.pid}")
        for scrapes in [1, 30]:
            event = ["-d", "-e", "page-faults", "-c", "1"]
            for at in samples_after_drop(exporter, bias, event, scrapes, "addr"):
                k = bisect.bisect_right(starts, at) - 1
                if 0 <= k and at < secs[k][0] + secs[k][1]:
                    seen[secs[k][2]] += 1
    for name, _ in seen.most_common():
        print(name)


if __name__ == "__main__":
    main()
