"""A small PNG line plot with a logarithmic x axis, drawn with Pillow (no plotting library, no Qt).

``convstudio lr-find`` writes its curve with it, so the command works on a
headless machine with only the packages ConvStudio already needs (Pillow comes
with torchvision).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from convstudio.core.atomic import atomic_write_bytes

WIDTH, HEIGHT = 760, 440
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 20, 36, 50


@dataclass(frozen=True)
class Curve:
    """One line: x values (positive), y values, an RGB colour and a width in pixels."""

    x: Sequence[float]
    y: Sequence[float]
    colour: tuple[int, int, int]
    width: int = 2
    label: str = ""


@dataclass(frozen=True)
class Marker:
    """A vertical line at ``x`` with a label."""

    x: float
    colour: tuple[int, int, int]
    label: str


def write_log_x_plot(path: str | Path, title: str, x_label: str, y_label: str, curves: Sequence[Curve],
                     markers: Sequence[Marker] = ()) -> None:
    """Draw ``curves`` against log10(x) with decade ticks, ``markers`` as vertical lines; write ``path`` atomically."""
    import io

    from PIL import Image, ImageDraw

    points = [(x, y) for curve in curves for x, y in zip(curve.x, curve.y)
              if x > 0 and math.isfinite(x) and math.isfinite(y)]
    if not points:
        raise ValueError("nothing to plot: no finite points")
    log_low = math.floor(math.log10(min(x for x, _ in points)))
    log_high = math.ceil(math.log10(max(x for x, _ in points)))
    if log_high == log_low:
        log_high += 1
    y_low, y_high = min(y for _, y in points), max(y for _, y in points)
    pad = (y_high - y_low) * 0.05 or 1.0
    y_low, y_high = y_low - pad, y_high + pad
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def to_pixel(x: float, y: float) -> tuple[float, float]:
        px = MARGIN_LEFT + (math.log10(x) - log_low) / (log_high - log_low) * plot_w
        py = MARGIN_TOP + (y_high - y) / (y_high - y_low) * plot_h
        return px, py

    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    grey, dark = (225, 225, 225), (40, 40, 40)
    for decade in range(log_low, log_high + 1):
        px, _ = to_pixel(10.0 ** decade, y_low)
        draw.line([(px, MARGIN_TOP), (px, MARGIN_TOP + plot_h)], fill=grey)
        draw.text((px - 12, MARGIN_TOP + plot_h + 6), f"1e{decade}", fill=dark)
    for k in range(6):
        y = y_low + (y_high - y_low) * k / 5
        _, py = to_pixel(10.0 ** log_low, y)
        draw.line([(MARGIN_LEFT, py), (MARGIN_LEFT + plot_w, py)], fill=grey)
        draw.text((8, py - 6), f"{y:.3g}", fill=dark)
    draw.rectangle([MARGIN_LEFT, MARGIN_TOP, MARGIN_LEFT + plot_w, MARGIN_TOP + plot_h], outline=dark)
    for curve in curves:
        line = [to_pixel(x, y) for x, y in zip(curve.x, curve.y) if x > 0 and math.isfinite(y)]
        if len(line) > 1:
            draw.line(line, fill=curve.colour, width=curve.width)
    for number, marker in enumerate(markers):
        px, _ = to_pixel(marker.x, y_low)
        for top in range(MARGIN_TOP, MARGIN_TOP + plot_h, 8):  # dashed
            draw.line([(px, top), (px, min(top + 4, MARGIN_TOP + plot_h))], fill=marker.colour, width=2)
        draw.text((px + 4, MARGIN_TOP + 4 + 14 * number), marker.label, fill=marker.colour)
    legend_x = MARGIN_LEFT + plot_w - 200
    for number, curve in enumerate(c for c in curves if c.label):
        y = MARGIN_TOP + plot_h - 18 - 14 * number
        draw.line([(legend_x, y + 6), (legend_x + 20, y + 6)], fill=curve.colour, width=curve.width)
        draw.text((legend_x + 26, y), curve.label, fill=dark)
    draw.text((MARGIN_LEFT, 10), title, fill=dark)
    draw.text((MARGIN_LEFT + plot_w // 2 - 40, HEIGHT - 20), x_label, fill=dark)
    draw.text((8, 10), y_label, fill=dark)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write_bytes(Path(path), buffer.getvalue())
