#!/usr/bin/env python3
"""Where an exporter's resident set is, by mapping, after back-to-back scrapes.

Usage: bench/exporter_resident.py BINARY [--runs 8] [--scrapes 100]
                                  [--plain 0] [--fx] [--touched]

Starts BINARY as an exporter with its default collectors (--fx: over
tests/fixtures with the netlink modes off; else this host with arp from
/proc/net/arp, as bench/exporter.py runs them), asks for --plain identity
bodies and then --scrapes gzip ones back to back, and reads
/proc/PID/smaps: kB resident per mapping (the binary's code, its read-only
data with the relocated RELRO, the malloc arenas, libc…), the mean over
--runs runs with the least and most. File-backed pages come in the
kernel's 64 KiB fault-around windows, which fall where the load address
puts them: one run can differ from the next by a window or two.

--touched also writes /proc/PID/clear_refs after the scrapes, scrapes 50
more times and reports smaps' `Referenced`: the pages those 50 touched,
against what is resident.
"""
import argparse
import os
import re
import statistics

from exporter import Exporter
from exporter_ab import flags

def by_mapping(pid, binary, field):
    """kB of smaps `field` per mapping, named by file (or [anon]) and mode."""
    out = {}
    name = None
    own = os.path.realpath(binary)
    for line in open(f"/proc/{pid}/smaps"):
        m = re.match(r"^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$", line)
        if m:
            path = m.group(2).strip()
            label = "outpost" if path == own else (os.path.basename(path) or "[anon]")
            name = f"{label} {m.group(1)}"
        elif line.startswith(field + ":") and name:
            out[name] = out.get(name, 0) + int(line.split()[1])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--scrapes", type=int, default=100)
    ap.add_argument("--plain", type=int, default=0)
    ap.add_argument("--fx", action="store_true")
    ap.add_argument("--touched", action="store_true")
    a = ap.parse_args()
    rss, touched = {}, {}
    for _ in range(a.runs):
        with Exporter(a.binary, flags("fx" if a.fx else "host")) as exporter:
            exporter.scrape(a.plain, "identity")
            exporter.scrape(a.scrapes)
            if a.touched:
                with open(f"/proc/{exporter.pid}/clear_refs", "w") as f:
                    f.write("1")
                exporter.scrape(50)
                for k, v in by_mapping(exporter.pid, a.binary, "Referenced").items():
                    touched.setdefault(k, []).append(v)
            for k, v in by_mapping(exporter.pid, a.binary, "Rss").items():
                rss.setdefault(k, []).append(v)
            with open(f"/proc/{exporter.pid}/status") as f:
                vm = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
            rss.setdefault("VmRSS", []).append(vm)
    print(f"{'kB resident':>12}{'least':>8}{'most':>8}" + (f"{'touched':>9}" if a.touched else "") + "  mapping")
    for k, v in sorted(rss.items(), key=lambda kv: -statistics.mean(kv[1])):
        if statistics.mean(v) < 16:
            continue
        t = f"{statistics.mean(touched[k]):9.0f}" if a.touched and k in touched else (" " * 9 if a.touched else "")
        print(f"{statistics.mean(v):12.0f}{min(v):8d}{max(v):8d}{t}  {k}")


if __name__ == "__main__":
    main()
