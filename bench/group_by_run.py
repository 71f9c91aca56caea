#!/usr/bin/env python3
"""Orders names (functions, sections) so that what each kind of run uses
lies together.

Usage: group_by_run.py POSITION:FILE... [--then FILE...]

Each POSITION:FILE lists, one name per line and hottest first, what one kind
of run used (this host with netlink, this host without, the fixture tree
with and without). A name's place is the mean POSITION of the runs that
used it; names with the same place keep the order they first appear in
(files in the order given). With positions host 0, host without netlink 1,
fixture tree 2, fixture tree without netlink 3, that lays out

    host only | netlink (both trees) | every run | /proc/net files | fixture only

so each kind of run's names are one stretch (two for the mixed ones) rather
than interleaved by heat with another's. That matters because the kernel
maps 64 KiB of file around every page touched: a hot list ordered by heat
alone spread one run's code over every window another run's code needed
too (BENCHMARKS.md, "Tenth session"). Names in a `--then` FILE (first
scrapes, startup, …) follow in their order; each name is printed once.
"""
import sys


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    then = []
    if "--then" in args:
        i = args.index("--then")
        args, then = args[:i], args[i + 1:]
    runs = {}
    first = {}
    for arg in args:
        pos, _, path = arg.partition(":")
        for line in open(path):
            name = line.strip()
            if not name or name.startswith("#"):
                continue
            runs.setdefault(name, set()).add(float(pos))
            first.setdefault(name, len(first))
    order = sorted(runs, key=lambda n: (sum(runs[n]) / len(runs[n]), first[n]))
    seen = set(order)
    for name in order:
        print(name)
    for path in then:
        for line in open(path):
            name = line.strip()
            if name and not name.startswith("#") and name not in seen:
                seen.add(name)
                print(name)


if __name__ == "__main__":
    main()
