#!/usr/bin/env python3
"""How much of Outpost's CPU per scrape is a cold start, on the fixture tree.

Usage: bench/exporter_cold.py BINARY [SCRAPES]

Starts node_exporter and BINARY over tests/fixtures (as bench/exporter.py
--fixtures does), then runs four phases of SCRAPES gzip scrapes (default
300): alternating (one node_exporter scrape before each Outpost scrape, as
bench/exporter.py scrapes them), Outpost alone (warm), and both again.
Prints Outpost's user and system CPU per scrape (/proc/PID/stat, 10 ms
ticks) and all threads' on-CPU time (schedstat) for each phase.
"""
import http.client
import os
import subprocess
import sys

from exporter import cpu_ns, free_port, wait_port

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    fx = os.path.abspath(FIXTURES)
    flags = [
        f"--path.procfs={fx}/proc", f"--path.sysfs={fx}/sys", f"--path.rootfs={fx}/rootfs",
        f"--collector.textfile.directory={fx}/textfile",
        f"--path.udev.data={fx}/rootfs/run/udev/data", "--no-collector.netdev.netlink",
    ]
    ne_port, op_port = free_port(), free_port()
    ne = subprocess.Popen(["/usr/bin/prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{ne_port}"] + flags,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    op = subprocess.Popen([binary, "exporter", "--web.listen-address", f"127.0.0.1:{op_port}",
                           "--no-collector.arp.netlink"] + flags,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(ne_port)
        wait_port(op_port)
        ne_conn = http.client.HTTPConnection("127.0.0.1", ne_port, timeout=30)
        op_conn = http.client.HTTPConnection("127.0.0.1", op_port, timeout=30)

        def scrape(conn):
            conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                sys.exit(f"HTTP {resp.status}")

        def ticks():
            with open(f"/proc/{op.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]), int(fields[12])

        for _ in range(10):
            scrape(ne_conn)
            scrape(op_conn)
        tick = os.sysconf("SC_CLK_TCK")
        for phase in ["alternating", "alone", "alternating", "alone"]:
            (u0, s0), c0 = ticks(), cpu_ns(op.pid)
            for _ in range(n):
                if phase == "alternating":
                    scrape(ne_conn)
                scrape(op_conn)
            (u1, s1), c1 = ticks(), cpu_ns(op.pid)
            print(f"{phase:12} user {(u1 - u0) / tick / n * 1e3:.3f} ms  system {(s1 - s0) / tick / n * 1e3:.3f} ms"
                  f"  on-CPU {(c1 - c0) / n / 1e6:.3f} ms per Outpost scrape")
    finally:
        ne.kill()
        op.kill()


if __name__ == "__main__":
    main()
