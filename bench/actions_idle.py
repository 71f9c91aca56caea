#!/usr/bin/env python3
"""The agent's idle cost with signed actions enabled vs without.

Two `outpost exporter` processes from the same binary, same collectors
(node_exporter's default set on this host), one of them also with
--actions.config (every built-in on: ports, top, kill-port, docker.*,
service.*, reboot, shutdown, one custom action) and its listener. Neither
gets an action request: this is the cost of having actions on while idle.
Scrapes alternate, one each in turn, every --interval seconds over one
keep-alive connection per exporter, so both see the same machine state.
Reports CPU time per process over the run (on-CPU ns from schedstat, all
threads), RSS once both are idle after the last scrape and peak RSS, and
the ratio with/without.

Usage: bench/actions_idle.py [--outpost target/release/outpost]
                             [--seconds 180] [--interval 1]
"""
import argparse
import http.client
import os
import socket
import subprocess
import tempfile
import time

CONFIG = """agent: bench
keys:
  bridge: ed25519:0000000000000000000000000000000000000000000000000000000000000000
builtin:
  ports: {}
  top: {}
  kill-port: { ports: [8000, 8999] }
  docker: { containers: ['web-*'], ps: {}, logs: {}, restart: {}, prune: {}, df: {} }
  service: { units: [nginx.service], status: {}, restart: {} }
  reboot: {}
  shutdown: {}
custom:
  uptime:
    argv: [/usr/bin/uptime]
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_ns(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def rss_kib(pid, field="VmRSS:"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outpost", default="target/release/outpost")
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--interval", type=float, default=1.0)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp()
    config = os.path.join(tmp, "actions.yml")
    with open(config, "w") as f:
        f.write(CONFIG)
    procs, conns = {}, {}
    for name in ("without", "with"):
        port = free_port()
        cmd = [a.outpost, "exporter", f"--web.listen-address=127.0.0.1:{port}"]
        if name == "with":
            aport = free_port()
            cmd += ["--actions.config", config,
                    f"--actions.listen-address=127.0.0.1:{aport}"]
        procs[name] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        wait_port(port)
        if name == "with":
            wait_port(aport)
        conns[name] = (http.client.HTTPConnection("127.0.0.1", port), port)
    # Warm up: one scrape each, then start counting.
    for c, _ in conns.values():
        c.request("GET", "/metrics")
        c.getresponse().read()
    start = {n: cpu_ns(p.pid) for n, p in procs.items()}
    scrapes = 0
    end = time.time() + a.seconds
    while time.time() < end:
        for n in ("without", "with"):
            c, _ = conns[n]
            c.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
            r = c.getresponse()
            r.read()
            assert r.status == 200
        scrapes += 1
        time.sleep(a.interval)
    cpu = {n: (cpu_ns(p.pid) - start[n]) / 1e6 for n, p in procs.items()}
    # Both shed startup code once idle for a second after a scrape: read
    # RSS when both are idle, not a few ms apart around that second.
    time.sleep(3)
    rss = {n: rss_kib(p.pid) for n, p in procs.items()}
    hwm = {n: rss_kib(p.pid, "VmHWM:") for n, p in procs.items()}
    for p in procs.values():
        p.terminate()
        p.wait()
    print(f"{scrapes} scrapes each over {a.seconds:.0f} s ({a.interval} s apart), {a.outpost}")
    print("| | without actions | with actions | with / without |")
    print("| --- | --- | --- | --- |")
    print(f"| CPU, ms per scrape | {cpu['without']/scrapes:.2f} | {cpu['with']/scrapes:.2f} | {cpu['with']/cpu['without']:.3f} |")
    print(f"| CPU over the run, ms | {cpu['without']:.0f} | {cpu['with']:.0f} | |")
    print(f"| RSS idle (3 s after the last scrape), KiB | {rss['without']} | {rss['with']} | {rss['with']/rss['without']:.3f} |")
    print(f"| peak RSS (VmHWM), KiB | {hwm['without']} | {hwm['with']} | {hwm['with']/hwm['without']:.3f} |")


if __name__ == "__main__":
    main()
