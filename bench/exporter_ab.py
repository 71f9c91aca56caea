#!/usr/bin/env python3
"""A/B of Outpost builds: per-scrape CPU of each, in alternating rounds.

Usage: bench/exporter_ab.py SCRAPES ROUNDS host|fx BINARY...

Starts each BINARY as an exporter with its default collectors (fx: over
tests/fixtures, netlink modes off; host: arp from /proc/net/arp, as
bench/exporter.py runs them), warms each up, then runs ROUNDS rounds, each
SCRAPES gzip scrapes of every binary in turn over a kept connection. Prints
per binary the median and minimum CPU per scrape (all threads' on-CPU time
from /proc/PID/task/*/schedstat: nanoseconds, unlike /proc/PID/stat's
ticks) and VmRSS at the end. For comparing two builds of Outpost, where
bench/exporter.py's ratio against node_exporter is too coarse.
"""
import http.client
import os
import statistics
import subprocess
import sys
import time

from exporter import cpu_ns, free_port, rss_bytes

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


def flags(mode):
    f = ["--no-collector.arp.netlink"]
    if mode == "fx":
        fx = os.path.abspath(FIXTURES)
        f += [
            f"--path.procfs={fx}/proc", f"--path.sysfs={fx}/sys", f"--path.rootfs={fx}/rootfs",
            f"--collector.textfile.directory={fx}/textfile",
            f"--path.udev.data={fx}/rootfs/run/udev/data", "--no-collector.netdev.netlink",
        ]
    return f


def main():
    if len(sys.argv) < 5 or sys.argv[3] not in ("host", "fx"):
        sys.exit(__doc__)
    n, rounds, mode, bins = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    procs = []
    try:
        for b in bins:
            port = free_port()
            p = subprocess.Popen(
                [b, "exporter", "--web.listen-address", f"127.0.0.1:{port}"] + flags(mode),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            procs.append((b, p, port))
        time.sleep(1.5)
        conns = [http.client.HTTPConnection("127.0.0.1", port) for _, _, port in procs]

        def scrape(c):
            c.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
            c.getresponse().read()

        for c in conns:
            for _ in range(20):
                scrape(c)
        per = {b: [] for b in bins}
        for _ in range(rounds):
            for (b, p, _), c in zip(procs, conns):
                t0 = cpu_ns(p.pid)
                for _ in range(n):
                    scrape(c)
                per[b].append((cpu_ns(p.pid) - t0) / n / 1e6)
        for b, p, _ in procs:
            v = per[b]
            print(f"{b}: CPU per scrape median {statistics.median(v):.3f} ms, "
                  f"min {min(v):.3f} ms; VmRSS {rss_bytes(p.pid) // 1024} kB")
    finally:
        for _, p, _ in procs:
            p.kill()


if __name__ == "__main__":
    main()
