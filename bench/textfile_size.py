#!/usr/bin/env python3
"""What one large textfile costs a scrape: `outpost exporter` with only the
textfile collector, over a directory holding one small file and one file of
--megabytes MB (distinct gauge series, as a runaway cron job writes them).

Reports per binary: the latency of each of --scrapes scrapes, VmHWM (peak
resident set) and VmRSS after them, and whether the big file was served or
skipped. Pass several binaries to compare (e.g. a build from before the
size cap and one after); extra exporter flags with --flag.

Usage: bench/textfile_size.py [--megabytes 64] [--scrapes 3] BINARY...
"""
import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def write_big(path, megabytes):
    line_no = 0
    size = 0
    target = megabytes * 1000 * 1000
    with open(path, "w") as f:
        f.write("# HELP big_m A runaway textfile.\n# TYPE big_m gauge\n")
        while size < target:
            chunk = "".join(
                f'big_m{{job="batch",instance="host-{i % 97}",n="{i}"}} {i}\n'
                for i in range(line_no, line_no + 10000)
            )
            line_no += 10000
            f.write(chunk)
            size += len(chunk)


def run(binary, directory, scrapes, flags):
    port = free_port()
    proc = subprocess.Popen(
        [binary, "exporter", f"--web.listen-address=127.0.0.1:{port}",
         "--collector.disable-defaults", "--collector.textfile",
         f"--collector.textfile.directory={directory}", *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit(f"{binary} did not listen")
                time.sleep(0.05)
        latencies = []
        body = ""
        for _ in range(scrapes):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            start = time.perf_counter()
            conn.request("GET", "/metrics")
            body = conn.getresponse().read().decode()
            latencies.append(time.perf_counter() - start)
            conn.close()
        served = "big_m{" in body
        skipped = 'outpost_textfile_skipped{file="' in body
        return latencies, status_kb(proc.pid, "VmHWM"), status_kb(proc.pid, "VmRSS"), served, skipped
    finally:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--megabytes", type=int, default=64)
    ap.add_argument("--scrapes", type=int, default=3)
    ap.add_argument("--flag", action="append", default=[])
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "small.prom"), "w") as f:
            f.write("small_m 1\n")
        write_big(os.path.join(d, "big.prom"), a.megabytes)
        size = os.path.getsize(os.path.join(d, "big.prom"))
        print(f"big.prom: {size:,} bytes")
        for b in a.binaries:
            lat, hwm, rss, served, skipped = run(b, d, a.scrapes, a.flag)
            print(f"{b}: scrapes {', '.join(f'{x:.3f} s' for x in lat)}; "
                  f"VmHWM {hwm / 1024:.1f} MB, VmRSS {rss / 1024:.1f} MB; "
                  f"big file {'served' if served else 'not served'}"
                  f"{', named as skipped' if skipped else ''}")


if __name__ == "__main__":
    main()
