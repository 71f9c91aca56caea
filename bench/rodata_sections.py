#!/usr/bin/env python3
"""Lists the read-only data a scrape reads, as the linker's input sections.

Usage: rodata_sections.py --map LINKMAP BINARY [EXPORTER FLAG...]

Runs BINARY as an exporter under valgrind's lackey tool (Debian `valgrind`),
which reports every load; after a few warm-up scrapes it records the loads
of three more that fall in `.rodata`, and prints the input sections (from
the lld map of that same link) they fall in, most read first. Each name is a
section the linker can be told to place first (link/rodata-order.ld, see
build.rs): string literals and tables a scrape reads sit among 2 MB of the
generator's, the bridge's and the chart renderer's, and the kernel maps
64 KiB around every page a scrape touches.
"""
import bisect
import collections
import http.client
import os
import subprocess
import sys
import threading
import time

from exporter import free_port, wait_port
from lldmap import input_sections, load_bias


def main():
    args = sys.argv[1:]
    if len(args) < 2 or args[0] != "--map":
        sys.exit(__doc__)
    map_path, binary, flags = args[1], args[2], args[3:]
    # `.rodata.hot` is where link/rodata-order.ld put the last list.
    secs = input_sections(map_path, (".rodata", ".rodata.hot"))
    starts = [s for s, _, _ in secs]
    lo, hi = secs[0][0], secs[-1][0] + secs[-1][1]
    port = free_port()
    rfd, wfd = os.pipe()
    proc = subprocess.Popen(
        ["valgrind", "--tool=lackey", "--trace-mem=yes", f"--log-fd={wfd}", binary,
         "exporter", "--web.listen-address", f"127.0.0.1:{port}"] + flags,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(wfd,),
    )
    os.close(wfd)
    state = {"base": None, "on": False}
    reads = collections.Counter()

    def reader():
        with os.fdopen(rfd, "r", errors="replace") as f:
            for line in f:
                if line[:2] not in (" L", " M"):
                    continue
                if not state["on"]:
                    continue
                a = int(line[3:].split(",")[0], 16) - state["base"]
                if lo <= a < hi:
                    reads[a] += 1

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        wait_port(port, seconds=120)  # valgrind starts slowly
        conn = http.client.HTTPConnection("127.0.0.1", port)
        state["base"] = load_bias(proc.pid, binary)
        if state["base"] is None:
            sys.exit("cannot find the binary's mapping")

        def scrape(n):
            for _ in range(n):
                conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
                conn.getresponse().read()

        scrape(3)
        time.sleep(1)
        state["on"] = True
        scrape(3)
        time.sleep(1)
        state["on"] = False
    finally:
        proc.kill()
        proc.wait()
    per_section = collections.Counter()
    for a, n in reads.items():
        i = bisect.bisect_right(starts, a) - 1
        if i >= 0 and a < secs[i][0] + secs[i][1]:
            per_section[secs[i][2]] += n
    for name, _ in per_section.most_common():
        print(name)


if __name__ == "__main__":
    main()
