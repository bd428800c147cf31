"""Chart redraw cost of a long curve: pyqtgraph's own downsampling against cutting the series by hand.

A live chart (the dashboard's :class:`LiveChart`, offscreen) holds a loss curve
of ``--points`` steps (100,000 by default: far more points than pixels) and is
redrawn as a live run redraws it: new steps appended, ``set_data``, the axes
fitted, one repaint. Three charts take turns, round by round, so that load from
other work falls on all of them alike:

- ``hand``: the series first cut by hand to twice the plot's width (each
  bucket's minimum and maximum, the chart's former code, kept here as the
  baseline), then ``setData``;
- ``pyqtgraph``: the whole series to ``setData``; pyqtgraph's
  ``setDownsampling(auto=True, mode="peak")`` and ``setClipToView(True)`` cut
  what is drawn (what the charts do now);
- ``none``: the whole series drawn with downsampling off (what both avoid).

It prints the median milliseconds per redraw, the points each draws, and the
ratio against ``hand``, with the command line. A ratio near 1 (or below) means
pyqtgraph's downsampling does the hand decimation's job.

    python bench/chart_downsampling.py [--points 100000] [--rounds 60] [--width 520] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402


def hand_decimate(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points: each bucket's minimum and maximum in their order (the former chart code)."""
    count = x.shape[0]
    if count <= max_points or max_points < 4:
        return x, y
    size = -(-count // (max_points // 2))
    buckets = -(-count // size)
    padded = np.full(buckets * size, np.nan)
    padded[:count] = np.where(np.isfinite(y), y, np.nan)
    shaped = padded.reshape(buckets, size)
    empty = np.isnan(shaped).all(axis=1, keepdims=True)
    shaped = np.where(empty, 0.0, shaped)
    low, high = np.nanargmin(shaped, axis=1), np.nanargmax(shaped, axis=1)
    offsets = np.arange(buckets) * size
    index = np.empty(2 * buckets, dtype=np.int64)
    index[0::2] = offsets + np.minimum(low, high)
    index[1::2] = offsets + np.maximum(low, high)
    index = np.minimum(index, count - 1)
    return x[index], y[index]


def loss_curve(points: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy falling loss with a few spikes, one value per step."""
    rng = np.random.default_rng(0)
    steps = np.arange(1, points + 1, dtype=float)
    loss = 2.3 * np.exp(-steps / (points / 5)) + 0.1 + 0.05 * rng.standard_normal(points)
    loss[rng.integers(0, points, 20)] += 3.0
    return steps, loss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="steps on the curve at the end")
    parser.add_argument("--rounds", type=int, default=60, help="redraws per chart")
    parser.add_argument("--append", type=int, default=50, help="steps appended before each redraw")
    parser.add_argument("--width", type=int, default=520, help="chart width in pixels (a dashboard chart's)")
    parser.add_argument("--quick", action="store_true", help="a short check: 10 rounds")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 10

    from PySide6.QtWidgets import QApplication

    from convstudio.gui.charts.live_chart import LiveChart

    app = QApplication.instance() or QApplication(sys.argv[:1])
    charts = {}
    for name in ("hand", "pyqtgraph", "none"):
        chart = LiveChart("Loss", f"{name}Plot", "cross-entropy")
        chart.resize(args.width, 300)
        chart.show()
        chart.curve("loss", "batch", "#7f7f7f")
        chart.set_x_extent(args.points)  # a live run's x axis: 0..its length
        if name == "none":
            chart.plot.setDownsampling(auto=False)
            chart.plot.setClipToView(False)
        charts[name] = chart
    app.processEvents()
    x, y = loss_curve(args.points)
    first = args.points - args.rounds * args.append
    timings: dict[str, list[float]] = {name: [] for name in charts}

    def redraw(name: str, count: int) -> None:
        chart = charts[name]
        xs, ys = x[:count], y[:count]
        if name == "hand":
            xs, ys = hand_decimate(xs, ys, max(64, 2 * chart.plot_widget.width()))
        chart.set_data("loss", xs, ys)
        chart.update_ranges()
        app.processEvents()
        chart.plot_widget.viewport().repaint()

    for name in charts:  # warm-up: first paints lay out legends and axes
        redraw(name, first)
    for round_ in range(1, args.rounds + 1):
        count = first + round_ * args.append
        order = list(charts) if round_ % 2 else list(reversed(charts))
        for name in order:
            started = time.perf_counter()
            redraw(name, count)
            timings[name].append(1000 * (time.perf_counter() - started))

    hover_started = time.perf_counter()
    text = charts["pyqtgraph"].show_values_at(float(args.points // 2))
    hover_ms = 1000 * (time.perf_counter() - hover_started)
    exact = f"batch {y[args.points // 2 - 1]:.4g}" in text

    print("$ python bench/chart_downsampling.py " + " ".join(sys.argv[1:]))
    print(f"{args.points:,} points on the curve at the end, {args.rounds} redraws each "
          f"({args.append} steps appended before each), chart {args.width} px wide, offscreen; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print()
    print("| chart | median ms per redraw | p90 ms | points drawn | ratio to hand |")
    print("| --- | --- | --- | --- | --- |")
    base = statistics.median(timings["hand"])
    labels = {"hand": "cut by hand to 2 x width, then setData (former code)",
              "pyqtgraph": "whole series, pyqtgraph peak downsampling + clip to view (now)",
              "none": "whole series, no downsampling"}
    for name, values in timings.items():
        chart = charts[name]
        median = statistics.median(values)
        p90 = sorted(values)[int(0.9 * (len(values) - 1))]
        print(f"| {labels[name]} | {median:.2f} | {p90:.2f} | {chart.drawn_point_count('loss'):,} | "
              f"{median / base:.2f} |")
    print()
    print(f"hover readout over {args.points:,} points: {hover_ms:.2f} ms, the exact value of the step: {exact}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
