#!/usr/bin/env python3
"""samples.csv of a soak run -> chart.svg and summary.md (no plotting
library needed): RSS, descriptors, CPU per echo and echo p99 over time,
and the flatness check (mean of the last 10 minutes against minutes 5-10)."""

import csv
import math
import sys

d = sys.argv[1]
rows = list(csv.DictReader(open(f"{d}/samples.csv")))
t = [float(r["t_s"]) for r in rows]
series = [
    ("RSS (MB)", [int(r["rss_bytes"]) / 1e6 for r in rows]),
    ("descriptors", [int(r["fds"]) for r in rows]),
    ("server CPU per echo (µs)", [float(r["cpu_us_per_echo"]) for r in rows]),
    ("echo p99 (ms)", [float(r["p99_ms"]) for r in rows]),
]

W, H, PAD = 900, 170, 50
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H * len(series) + 20}" '
       'font-family="sans-serif" font-size="12">',
       f'<rect width="100%" height="100%" fill="white"/>']
tmax = max(t) if t else 1
for i, (name, ys) in enumerate(series):
    y0 = i * H + 10
    ok = [y for y in ys if not math.isnan(y)]
    lo, hi = (min(ok), max(ok)) if ok else (0, 1)
    lo = min(lo, 0)
    hi = hi if hi > lo else lo + 1
    pts = " ".join(
        f"{PAD + (x / tmax) * (W - 2 * PAD):.1f},{y0 + H - 30 - (y - lo) / (hi - lo) * (H - 50):.1f}"
        for x, y in zip(t, ys) if not math.isnan(y))
    svg += [f'<text x="{PAD}" y="{y0 + 12}">{name}: {lo:.4g} to {hi:.4g}</text>',
            f'<line x1="{PAD}" y1="{y0 + H - 30}" x2="{W - PAD}" y2="{y0 + H - 30}" stroke="#999"/>',
            f'<text x="{W - PAD}" y="{y0 + H - 16}" text-anchor="end">{tmax / 60:.0f} min</text>',
            f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{pts}"/>']
svg.append("</svg>")
open(f"{d}/chart.svg", "w").write("\n".join(svg))


def mean_between(ys, a, b):
    v = [y for x, y in zip(t, ys) if a <= x < b and not math.isnan(y)]
    return sum(v) / len(v) if v else float("nan")


end = t[-1] if t else 0
lines = ["| series | minutes 5-10 | last 10 minutes | change |", "|---|---:|---:|---:|"]
for name, ys in series:
    a = mean_between(ys, 300, 600)
    b = mean_between(ys, end - 600, end + 1)
    ch = (b - a) / a * 100 if a else float("nan")
    lines.append(f"| {name} | {a:.4g} | {b:.4g} | {ch:+.1f} % |")
errors = rows[-1]["errors"] if rows else "?"
lines.append("")
lines.append(f"Honest-client errors: {errors}. Samples: {len(rows)} over {end / 60:.1f} min.")
open(f"{d}/summary.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
