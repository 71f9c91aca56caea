#!/usr/bin/env python3
"""Hostile-client benchmark: legitimate latency while an attacker on loopback
floods the exporter with wrong passwords, or holds the bridge's connections
half-open (slowloris). Each scenario runs once per binary given, one after
the other on the same machine, so "before" and "after" see the same load.

- flood: `outpost exporter` with basic auth (one user, bcrypt cost 10, as
  `htpasswd -nBC 10`), default collectors. One right-password scrape is
  made (so it is remembered), then --flood-clients concurrent clients send
  wrong passwords back to back for --seconds, from a child process. Meanwhile
  the right user scrapes /metrics once every 0.5 s with a 10 s timeout (the
  default Prometheus scrape timeout); a timeout is a failed scrape.
- slowloris: `outpost bridge` (no Telegram token: webhooks are stored)
  started as systemd starts a service without LimitNOFILE (soft open-file
  limit 1024, hard limit unchanged). A child process keeps
  --slow-connections connections open, each having sent half a request
  header, reopening any the server closes. Meanwhile one webhook is posted
  every 0.5 s (a fresh connection each, 10 s timeout) and /-/ready is asked.

Load is bounded: loopback only, a fixed number of connections, --seconds.

Usage: bench/hardening.py --binary before=PATH --binary after=PATH
                          [--scenario flood|slowloris|both] [--seconds 20]
"""
import argparse
import asyncio
import http.client
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

# The loopback helpers of the exporter benchmark beside this file.
from exporter import free_port, wait_port

# bcrypt cost 10 of "bench-s3cret" (made with libxcrypt: crypt.METHOD_BLOWFISH).
HASH = "$2b$10$Q1qAD1xDycn3vyPEwDxM9.24xSbh/AES2AFLSiDS6Za8wXGiGH18y"
RIGHT = "Basic YmVuY2g6YmVuY2gtczNjcmV0"  # bench:bench-s3cret
WRONG = "Basic YmVuY2g6d3Jvbmc="  # bench:wrong
TIMEOUT = 10.0


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def timed(port, method, path, headers=None, body=None):
    """(seconds, status or None on timeout/error) of one request on a new connection."""
    start = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        r.read()
        c.close()
        return time.monotonic() - start, r.status
    except (OSError, http.client.HTTPException):
        return time.monotonic() - start, None


def summary(samples):
    ok = sorted(t for t, s in samples if s == 200)
    failed = sum(1 for _, s in samples if s != 200)

    def q(p):
        return ok[min(len(ok) - 1, int(p * len(ok)))] * 1000 if ok else float("nan")

    return {
        "requests": len(samples),
        "ok": len(ok),
        "failed": failed,
        "p50_ms": q(0.5),
        "p90_ms": q(0.9),
        "max_ms": ok[-1] * 1000 if ok else float("nan"),
        "mean_ms": statistics.mean(ok) * 1000 if ok else float("nan"),
    }


def measure(port, seconds, ask):
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        samples.append(ask(port))
        time.sleep(max(0.0, 0.5 - (time.monotonic() - t0)))
    return samples


# ---- attacker roles (run in a child process) ----

async def flood(port, clients, seconds):
    counts = {}
    end = time.monotonic() + seconds
    req = (f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: {WRONG}\r\n\r\n").encode()

    async def one():
        while time.monotonic() < end:
            try:
                r, w = await asyncio.open_connection("127.0.0.1", port)
                while time.monotonic() < end:
                    w.write(req)
                    await w.drain()
                    line = await r.readline()
                    status = line.split()[1].decode() if len(line.split()) > 1 else "?"
                    length = 0
                    while True:
                        h = await r.readline()
                        if h in (b"\r\n", b""):
                            break
                        if h.lower().startswith(b"content-length:"):
                            length = int(h.split(b":")[1])
                    await r.readexactly(length)
                    counts[status] = counts.get(status, 0) + 1
                w.close()
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                counts["error"] = counts.get("error", 0) + 1
                await asyncio.sleep(0.05)

    await asyncio.gather(*(one() for _ in range(clients)))
    print(json.dumps(counts), flush=True)


async def slowloris(port, conns, seconds):
    """Keeps `conns` half-open connections, reopening closed ones; one more
    header line on each every 5 s."""
    end = time.monotonic() + seconds
    opened = 0

    async def one():
        nonlocal opened
        while time.monotonic() < end:
            try:
                r, w = await asyncio.open_connection("127.0.0.1", port)
                opened += 1
                w.write(b"POST /alert HTTP/1.1\r\nHost: x\r\n")
                await w.drain()
                while time.monotonic() < end:
                    try:
                        data = await asyncio.wait_for(r.read(1024), 5.0)
                        if not data:
                            break  # closed by the server: reopen
                    except asyncio.TimeoutError:
                        w.write(b"X-a: b\r\n")
                        await w.drain()
                w.close()
            except OSError:
                await asyncio.sleep(0.05)

    await asyncio.gather(*(one() for _ in range(conns)))
    print(json.dumps({"connections_opened": opened}), flush=True)


# ---- scenarios ----

def attacker(role, port, n, seconds):
    return subprocess.Popen(
        [sys.executable, __file__, "--role", role, "--port", str(port), "--n", str(n),
         "--seconds", str(seconds)],
        stdout=subprocess.PIPE, text=True)


def run_flood(binary, args):
    d = tempfile.mkdtemp()
    web = os.path.join(d, "web.yml")
    with open(web, "w") as f:
        f.write(f"basic_auth_users:\n  bench: '{HASH}'\n")
    port = free_port()
    proc = subprocess.Popen([binary, "exporter", f"--web.listen-address=127.0.0.1:{port}",
                             f"--web.config.file={web}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        scrape = lambda p: timed(p, "GET", "/metrics", {"Authorization": RIGHT})
        quiet = summary([scrape(port) for _ in range(5)])
        att = attacker("flood", port, args.flood_clients, args.seconds)
        time.sleep(1.0)
        loaded = summary(measure(port, args.seconds - 2, scrape))
        flood_counts = json.loads(att.communicate()[0] or "{}")
        return quiet, loaded, flood_counts
    finally:
        proc.terminate()
        proc.wait()


def run_slowloris(binary, args):
    d = tempfile.mkdtemp()
    port = free_port()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    proc = subprocess.Popen(["prlimit", f"--nofile=1024:{hard}", "--", binary, "bridge",
                             f"--listen=127.0.0.1:{port}", f"--state={d}/s.db", "--chat-id=1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={k: v for k, v in os.environ.items()
                                 if not k.startswith("OUTPOST_")})
    body = json.dumps({"version": "4", "status": "firing", "receiver": "r", "groupKey": "g",
                       "alerts": [{"status": "firing", "labels": {"alertname": "Bench"},
                                   "fingerprint": "f"}]})
    n = [0]

    def webhook(p):
        n[0] += 1
        b = body.replace('"g"', f'"g{n[0]}"')
        return timed(p, "POST", "/alert", {"Content-Type": "application/json"}, b)

    try:
        wait_port(port)
        quiet = summary([webhook(port) for _ in range(5)])
        att = attacker("slowloris", port, args.slow_connections, args.seconds)
        time.sleep(2.0)
        loaded = summary(measure(port, args.seconds - 3, webhook))
        ready = timed(port, "GET", "/-/ready")
        counts = json.loads(att.communicate()[0] or "{}")
        counts["ready_after"] = f"{ready[1]} in {ready[0] * 1000:.0f} ms"
        return quiet, loaded, counts
    finally:
        proc.terminate()
        proc.wait()


def report(title, rows):
    print(f"\n{title}")
    print(f"{'binary':<10} {'phase':<7} {'ok/total':>9} {'p50 ms':>8} {'p90 ms':>8} "
          f"{'max ms':>8}  attacker")
    for name, quiet, loaded, extra in rows:
        for phase, s in (("quiet", quiet), ("attack", loaded)):
            print(f"{name:<10} {phase:<7} {s['ok']:>4}/{s['requests']:<4} {s['p50_ms']:>8.1f} "
                  f"{s['p90_ms']:>8.1f} {s['max_ms']:>8.1f}  {extra if phase == 'attack' else ''}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", action="append", default=[], help="NAME=PATH, repeatable")
    ap.add_argument("--scenario", default="both", choices=["flood", "slowloris", "both"])
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--flood-clients", type=int, default=600)
    ap.add_argument("--slow-connections", type=int, default=1100)
    ap.add_argument("--role", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    raise_nofile()
    if args.role == "flood":
        return asyncio.run(flood(args.port, args.n, args.seconds))
    if args.role == "slowloris":
        return asyncio.run(slowloris(args.port, args.n, args.seconds))
    binaries = [b.split("=", 1) for b in args.binary]
    if not binaries:
        sys.exit("give at least one --binary NAME=PATH")
    if args.scenario in ("flood", "both"):
        rows = [(name, *run_flood(path, args)) for name, path in binaries]
        report(f"Right-password scrapes of /metrics during a flood of "
               f"{args.flood_clients} wrong-password clients ({args.seconds} s)", rows)
    if args.scenario in ("slowloris", "both"):
        rows = [(name, *run_slowloris(path, args)) for name, path in binaries]
        report(f"Webhooks (POST /alert) beside {args.slow_connections} half-open "
               f"connections ({args.seconds} s; bridge soft open-file limit 1024)", rows)


if __name__ == "__main__":
    main()
