"""The same chart as bench/chat.rs renders, with Python/matplotlib (Agg),
as the Python Telegram bots in this field do. Prints per-render timings."""
import io
import math
import statistics
import sys
import time

t0 = time.perf_counter()
import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

import_ms = (time.perf_counter() - t0) * 1e3


def render(points):
    start = 1_700_000_000.0
    step = 300.0 / points
    xs = [datetime.fromtimestamp(start + i * step, timezone.utc) for i in range(points)]
    ys = [40 + 30 * math.sin(i / 20) + 5 * math.cos(i / 3) for i in range(points)]
    fig, ax = plt.subplots(figsize=(10, 6), dpi=100)
    ax.plot(xs, ys, label="web1", linewidth=2)
    ax.axhline(80, color="red", linestyle="--", label="alert threshold 80%")
    ax.set_ylim(0, 100)
    ax.set_title("CPU usage — web1")
    ax.set_ylabel("%")
    ax.set_xlabel("2023-11-14 (UTC)")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    ax.grid(True)
    ax.legend(loc="upper left")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    print(f"python matplotlib {matplotlib.__version__}: import {import_ms:.0f}ms (once per process)")
    for points in (300, 3000):
        render(points)  # warm-up
        samples = []
        for _ in range(n):
            t = time.perf_counter()
            render(points)
            samples.append((time.perf_counter() - t) * 1e3)
        samples.sort()
        p = lambda q: samples[round((len(samples) - 1) * q)]  # noqa: E731
        print(
            f"python matplotlib render {points} points: n={n} p50={p(0.5):.2f}ms "
            f"p90={p(0.9):.2f}ms mean={statistics.mean(samples):.2f}ms min={samples[0]:.2f}ms"
        )


if __name__ == "__main__":
    main()
