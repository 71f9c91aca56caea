#!/usr/bin/env python3
"""Side-by-side benchmark: `outpost exporter` vs node_exporter on this host.

Both run with the same collector set. Scrapes alternate (one each, in turn)
over one keep-alive connection per exporter, so both see the same machine
state. Reports per scrape: CPU time of the exporter process (from
/proc/PID/stat over the whole run), client-observed latency p50/p99, response
bytes plain and gzip; RSS after the run; and each as Outpost/node_exporter.

Usage: bench/exporter.py [--scrapes 1000] [--outpost target/release/outpost]
                         [--set core|defaults] [--fixtures tests/fixtures]

--set core (the default) runs both with the 23 collectors the first version
had; --set defaults runs each with its own default collector set (every
collector node_exporter enables by default). --fixtures points both at a
fixture tree (--path.procfs/sysfs/rootfs, udev data, textfile directory)
instead of this host. Netlink modes are matched to node_exporter 1.5's: netdev
over netlink on the host (both), /proc/net/dev on a fixture tree (both), arp
from /proc/net/arp (1.5 has no other way).
"""
import argparse
import gzip
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

COLLECTORS = [
    "arp", "conntrack", "cpu", "diskstats", "entropy", "filefd", "filesystem",
    "loadavg", "meminfo", "netclass", "netdev", "netstat", "os", "pressure",
    "sockstat", "softnet", "stat", "textfile", "time", "timex", "udp_queues",
    "uname", "vmstat",
]
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_ns(pid):
    """On-CPU time of all live threads, in ns (finer than stat's ticks)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def wait_port(port, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listening on {port}")


class Exporter:
    """`BINARY exporter` with FLAGS on a free loopback port, for the scripts
    that study one Outpost process; `scrape` asks for bodies over one kept
    connection. Use as a context manager: the process is killed on exit."""

    def __init__(self, binary, flags):
        port = free_port()
        self.proc = subprocess.Popen(
            [binary, "exporter", "--web.listen-address", f"127.0.0.1:{port}"] + flags,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.pid = self.proc.pid
        try:
            wait_port(port)
        except SystemExit:
            self.close()
            raise
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def scrape(self, n, encoding="gzip"):
        for _ in range(n):
            self.conn.request("GET", "/metrics", headers={"Accept-Encoding": encoding})
            self.conn.getresponse().read()

    def close(self):
        self.proc.kill()
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def samples_after_drop(exporter, bias, perf_args, scrapes, field):
    """Lets `exporter` drop its pages (residency.rs: after a second idle),
    records `scrapes` more scrapes with `perf record PERF_ARGS` (Debian
    `linux-perf`) and returns perf's FIELD (`ip`, `addr`) of each sample,
    less `bias`: offsets in the binary's link map."""
    exporter.scrape(5)
    time.sleep(2.5)
    with tempfile.TemporaryDirectory() as work:
        data = os.path.join(work, "perf.data")
        rec = subprocess.Popen(
            ["perf", "record", "-q", "-o", data, "-p", str(exporter.pid)] + perf_args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1)
        exporter.scrape(scrapes)
        time.sleep(0.2)
        rec.send_signal(2)
        rec.wait()
        out = subprocess.run(
            ["perf", "script", "-i", data, "-F", field],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    return [int(v, 16) - bias for v in out]


class Target:
    def __init__(self, name, argv, port):
        self.name, self.port = name, port
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.latencies = []

    def scrape(self, gz=False):
        headers = {"Accept-Encoding": "gzip"} if gz else {"Accept-Encoding": "identity"}
        start = time.perf_counter()
        self.conn.request("GET", "/metrics", headers=headers)
        resp = self.conn.getresponse()
        body = resp.read()
        elapsed = time.perf_counter() - start
        if resp.status != 200:
            sys.exit(f"{self.name}: HTTP {resp.status}")
        return elapsed, body

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scrapes", type=int, default=1000)
    ap.add_argument("--outpost", default="target/release/outpost")
    ap.add_argument("--node-exporter", default="/usr/bin/prometheus-node-exporter")
    ap.add_argument("--spaced", type=int, default=20, help="scrapes in the spaced phase")
    ap.add_argument("--gap", type=float, default=2.0, help="seconds between spaced scrapes")
    ap.add_argument("--set", choices=["core", "defaults"], default="core",
                    help="core: the 23 first collectors on both; defaults: each exporter's default set")
    ap.add_argument("--fixtures", help="a fixture tree to read instead of this host")
    a = ap.parse_args()

    ne_port, op_port = free_port(), free_port()
    if a.set == "core":
        flags = ["--collector.disable-defaults"] + [f"--collector.{c}" for c in COLLECTORS]
    else:
        flags = []
    if a.fixtures:
        f = os.path.abspath(a.fixtures)
        flags += [
            f"--path.procfs={f}/proc", f"--path.sysfs={f}/sys", f"--path.rootfs={f}/rootfs",
            f"--collector.textfile.directory={f}/textfile",
            f"--path.udev.data={f}/rootfs/run/udev/data",
        ]
    ne_flags = list(flags)
    op_flags = list(flags)
    # Like with like against Debian's node_exporter 1.5: its netdev reads
    # netlink by default (as Outpost's does), but its arp has no netlink
    # mode and always reads /proc/net/arp, so Outpost's arp does too here.
    op_flags.append("--no-collector.arp.netlink")
    if a.fixtures:
        # netlink reads the live kernel whatever --path.procfs says: on a
        # fixture tree both read /proc/net/dev instead.
        ne_flags.append("--no-collector.netdev.netlink")
        op_flags.append("--no-collector.netdev.netlink")
    targets = [
        Target("node_exporter", [a.node_exporter, f"--web.listen-address=127.0.0.1:{ne_port}"] + ne_flags, ne_port),
        Target("outpost", [a.outpost, "exporter", "--web.listen-address", f"127.0.0.1:{op_port}"] + op_flags, op_port),
    ]
    try:
        # Warm up, and measure sizes.
        sizes = {}
        for t in targets:
            for _ in range(5):
                t.scrape()
            _, plain = t.scrape()
            _, gz = t.scrape(gz=True)
            assert gzip.decompress(gz)[:10]
            sizes[t.name] = (len(plain), len(gz), plain.count(b"\n"))
        cpu0 = {t.name: cpu_seconds(t.proc.pid) for t in targets}
        for _ in range(a.scrapes):
            for t in targets:
                elapsed, _ = t.scrape(gz=True)
                t.latencies.append(elapsed)
        busy_rss = {t.name: rss_bytes(t.proc.pid) for t in targets}
        rows = {}
        for t in targets:
            cpu = (cpu_seconds(t.proc.pid) - cpu0[t.name]) / a.scrapes
            rows[t.name] = {
                "cpu_ms": cpu * 1000,
                "p50_ms": pct(t.latencies, 50) * 1000,
                "p99_ms": pct(t.latencies, 99) * 1000,
                "plain_bytes": sizes[t.name][0],
                "gzip_bytes": sizes[t.name][1],
                "lines": sizes[t.name][2],
                "rss_mb": busy_rss[t.name] / 1e6,
            }
        # Spaced phase: scrapes with idle gaps, as Prometheus sends them.
        spaced0 = {t.name: cpu_ns(t.proc.pid) for t in targets}
        for _ in range(a.spaced):
            time.sleep(a.gap)
            for t in targets:
                t.scrape(gz=True)
        spaced1 = {t.name: cpu_ns(t.proc.pid) for t in targets}
        # Idle means past Outpost's page drop, one second after a scrape:
        # sleeping exactly that long raced it.
        time.sleep(max(a.gap, 1.5))
        for t in targets:
            # CPU per spaced scrape includes whatever the process does while
            # idle between scrapes (Go's GC and timers; Outpost's page drop).
            rows[t.name]["spaced_cpu_ms"] = (spaced1[t.name] - spaced0[t.name]) / a.spaced / 1e6
            rows[t.name]["idle_rss_mb"] = rss_bytes(t.proc.pid) / 1e6
    finally:
        for t in targets:
            t.stop()

    ne, op = rows["node_exporter"], rows["outpost"]
    print(f"scrapes per exporter: {a.scrapes} back to back (gzip, alternating), then {a.spaced} spaced {a.gap}s apart; collectors: {len(COLLECTORS) if a.set == 'core' else 'each default set'}; {('fixtures ' + a.fixtures) if a.fixtures else 'this host'}")
    print(f"{'metric':<22}{'node_exporter':>15}{'outpost':>12}{'ratio':>9}")
    for key, label in [
        ("cpu_ms", "CPU ms / scrape"),
        ("p50_ms", "latency p50 ms"),
        ("p99_ms", "latency p99 ms"),
        ("plain_bytes", "body bytes (plain)"),
        ("gzip_bytes", "body bytes (gzip)"),
        ("lines", "body lines"),
        ("rss_mb", "RSS MB after run"),
        ("spaced_cpu_ms", "CPU ms / spaced scrape"),
        ("idle_rss_mb", "RSS MB when idle"),
    ]:
        ratio = op[key] / ne[key] if ne[key] else float("nan")
        print(f"{label:<22}{ne[key]:>15.3f}{op[key]:>12.3f}{ratio:>9.3f}")


if __name__ == "__main__":
    main()
