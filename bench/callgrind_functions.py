#!/usr/bin/env python3
"""Lists the functions of one object that a callgrind profile saw running.

Usage: callgrind_functions.py [--map LINKMAP] OBJECT_SUBSTRING FILE...

Prints one mangled function name per line, most instructions first, for
every function whose object path contains OBJECT_SUBSTRING. Callgrind must
have been run with --demangle=no. For a stripped binary callgrind names code
by address; --map gives the linker's map of that same link (lld -Map) to
turn addresses back into the functions that contain them. Functions already
printed for an earlier FILE are not repeated, so files given in phase order
(steady scrapes, first scrapes, startup) give a list with the hottest code
first.
"""
import bisect
import collections
import re
import sys

from lldmap import text_symbols

NAMED = re.compile(r"^(ob|fl|fi|fe|fn|cob|cfi|cfl|cfn)=\((\d+)\)(?: (.*))?$")
COST = re.compile(r"^[+-]?(?:0x)?[0-9a-f]+ (\d+)")


def functions(path, wanted):
    """Self cost per function of objects matching `wanted` in one file."""
    cost = collections.Counter()
    names = {"ob": {}, "fn": {}}
    ob = fn = None
    after_calls = False
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        m = NAMED.match(line)
        if m:
            kind, num, name = m.groups()
            table = "ob" if kind in ("ob", "cob") else "fn" if kind in ("fn", "cfn") else None
            if table and name:
                names[table][num] = name
            if kind == "ob":
                ob = names["ob"].get(num)
            elif kind == "fn":
                fn = names["fn"].get(num)
                if ob and wanted in ob:
                    cost[fn] += 0
            continue
        if line.startswith("calls="):
            after_calls = True  # the next cost line is the call's inclusive cost
            continue
        m = COST.match(line)
        if m:
            if not after_calls and ob and fn and wanted in ob:
                cost[fn] += int(m.group(1))
            after_calls = False
    return cost


def main():
    args = sys.argv[1:]
    resolve = None
    if args[:1] == ["--map"]:
        addrs, names = text_symbols(args[1])
        args = args[2:]

        def resolve(fn):
            if not fn.startswith("0x"):
                return fn
            # A recursive call's name carries its depth: 0x1234'2.
            i = bisect.bisect_right(addrs, int(fn.split("'")[0], 16)) - 1
            return names[i] if i >= 0 else None

    if len(args) < 2:
        sys.exit(__doc__)
    wanted, files = args[0], args[1:]
    seen = set()
    for path in files:
        for name, _ in functions(path, wanted).most_common():
            if resolve:
                name = resolve(name)
            if name and name not in seen:
                seen.add(name)
                print(name)


if __name__ == "__main__":
    main()
