#!/usr/bin/env python3
"""What the cpu_benchmark collector costs: CPU time of an exporter running it
against the same exporter without it (the anchor), side by side, both idle
(no scrapes during the measurement), on the release build.

The collector runs at the shortest allowed interval (10 s, six times the
default rate) so the run sees enough benchmark runs; the cost at the default
1m interval is the measured cost per run divided by 60 s.

CPU time is summed over all threads from /proc/PID/task/*/schedstat
(nanoseconds), so the benchmark thread and any wake-ups are counted.

    cargo build --release
    python3 bench/cpu_benchmark_cost.py --seconds 120
"""

import argparse
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

BIN = os.path.join(os.path.dirname(__file__), "..", "target", "release", "outpost")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ns(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass
    return total


def start(extra, binary):
    port = free_port()
    p = subprocess.Popen(
        [binary, "exporter", f"--web.listen-address=127.0.0.1:{port}",
         "--collector.disable-defaults", "--collector.loadavg", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    sys.exit("exporter did not start")


def metric(port, name):
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    m = re.search(rf"^{name} (\S+)$", body, re.M)
    return float(m.group(1)) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--bin", default=BIN, help="outpost binary (default: the release build)")
    args = ap.parse_args()
    bench, bport = start(["--collector.cpu_benchmark", "--collector.cpu_benchmark.interval=10s"], args.bin)
    anchor, aport = start([], args.bin)
    # Past startup and the first benchmark run (1 s after start).
    time.sleep(3)
    runs0 = metric(bport, "outpost_cpu_benchmark_runs_total")
    # From after that scrape: it cost CPU too.
    b0, a0 = cpu_ns(bench.pid), cpu_ns(anchor.pid)
    time.sleep(args.seconds)
    b1, a1 = cpu_ns(bench.pid), cpu_ns(anchor.pid)
    # A run that started before b1 was read but ended after is counted in
    # CPU but maybe not in runs1: at most one run's worth of error.
    runs1 = metric(bport, "outpost_cpu_benchmark_runs_total")
    duration = metric(bport, "outpost_cpu_benchmark_duration_seconds")
    bench.terminate()
    anchor.terminate()
    runs = runs1 - runs0
    extra_ms = ((b1 - b0) - (a1 - a0)) / 1e6
    per_run_ms = extra_ms / runs
    print(f"window {args.seconds:.0f} s, {runs:.0f} benchmark runs (interval 10 s)")
    print(f"CPU, with cpu_benchmark: {(b1 - b0) / 1e6:.1f} ms   anchor (without): {(a1 - a0) / 1e6:.1f} ms")
    print(f"extra CPU per run: {per_run_ms:.2f} ms   last run's wall-clock duration: {duration * 1e3:.2f} ms")
    print(f"share of one core at 10 s: {per_run_ms / 10_000 * 100:.4f} %")
    print(f"share of one core at the default 1m: {per_run_ms / 60_000 * 100:.4f} %  (limit 0.5 %)")


if __name__ == "__main__":
    main()
