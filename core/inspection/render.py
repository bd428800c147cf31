"""Pictures of an inspection as PIL images, and saving them as PNG.

No plotting library is needed: tiles, colour scales, histograms and bar charts
are drawn with PIL, so the command line, the tests and the app draw the same
pixels. Small maps are enlarged by whole pixels (nearest neighbour), so every
unit stays a visible square.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from convstudio.core.atomic import atomic_write_bytes

# Colour scales as anchor colours from low to high, interpolated linearly (close to matplotlib's).
COLOUR_SCALES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "viridis": ((68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142), (31, 158, 137),
                (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37)),
    "inferno": ((0, 0, 4), (31, 12, 72), (85, 15, 109), (136, 34, 106), (186, 54, 85), (227, 89, 51),
                (249, 140, 10), (249, 201, 50), (252, 255, 164)),
    "grey": ((0, 0, 0), (255, 255, 255)),
}
BACKGROUND = (255, 255, 255)
INK = (30, 30, 30)
FAINT = (150, 150, 150)
HIGHLIGHT = (230, 40, 40)
_TABLES: dict[str, np.ndarray] = {}


def font(size: int = 12) -> ImageFont.ImageFont:
    """PIL's built-in font at ``size`` pixels (no font files needed)."""
    return ImageFont.load_default(size=size)


def _table(scale: str) -> np.ndarray:
    """256 RGB colours of ``scale``."""
    table = _TABLES.get(scale)
    if table is None:
        anchors = np.array(COLOUR_SCALES[scale], dtype=np.float64)
        positions = np.linspace(0, 1, len(anchors))
        steps = np.linspace(0, 1, 256)
        table = np.stack([np.interp(steps, positions, anchors[:, c]) for c in range(3)], axis=1)
        table = _TABLES[scale] = table.round().astype(np.uint8)
    return table


def colourise(values: torch.Tensor | np.ndarray, low: float, high: float, scale: str = "viridis") -> np.ndarray:
    """(H, W) values -> (H, W, 3) uint8 colours, ``low`` darkest and ``high`` brightest."""
    array = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    span = high - low if high > low else 1.0
    index = np.clip((array.astype(np.float64) - low) / span * 255, 0, 255).round().astype(np.int64)
    return _table(scale)[index]


def pixels_to_rgb(pixels: torch.Tensor) -> np.ndarray:
    """uint8 (C, H, W) with 1 or 3 channels -> (H, W, 3) uint8; other channel counts show their mean."""
    array = pixels.detach().cpu().numpy()
    if array.shape[0] == 3:
        return np.ascontiguousarray(array.transpose(1, 2, 0))
    grey = array[0] if array.shape[0] == 1 else array.mean(axis=0).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def enlarge(array: np.ndarray, size: int) -> np.ndarray:
    """Enlarge (H, W, 3) by a whole factor so that its longer side reaches at least ``size`` pixels."""
    factor = max(1, math.ceil(size / max(array.shape[:2])))
    return np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)


def title_height(size: int = 13) -> int:
    """Pixels a :func:`with_title` line adds above a picture."""
    return size + 10


def with_title(image: Image.Image, title: str, size: int = 13) -> Image.Image:
    """``image`` under a line of text."""
    band = title_height(size)
    width = max(image.width, int(font(size).getlength(title)) + 12)
    out = Image.new("RGB", (width, image.height + band), BACKGROUND)
    ImageDraw.Draw(out).text((6, 4), title, fill=INK, font=font(size))
    out.paste(image, (0, band))
    return out


def channel_order(maps: torch.Tensor, by_mean: bool) -> list[int]:
    """Channel indices in their own order, or by mean activation, largest first."""
    if not by_mean:
        return list(range(maps.shape[0]))
    return torch.argsort(maps.flatten(1).mean(dim=1), descending=True, stable=True).tolist()


def grid_geometry(count: int, map_shape: tuple[int, int], tile: int) -> tuple[int, int, int, int]:
    """(columns, rows, tile width, tile height) of a grid of ``count`` tiles, about square."""
    columns = max(1, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / columns)
    factor = max(1, math.ceil(tile / max(map_shape)))
    return columns, rows, map_shape[1] * factor, map_shape[0] * factor


def feature_grid(maps: torch.Tensor, title: str = "", shared_scale: bool = True, sort_by_mean: bool = False,
                 scale: str = "viridis", tile: int = 48, gap: int = 2, limit: int = 256) -> Image.Image:
    """Feature maps (C, H, W) as a grid of tiles, one per channel (at most ``limit``).

    ``shared_scale``: one colour scale for all tiles (the layer's minimum to
    maximum), so tiles compare; otherwise each tile spans its own range.
    """
    order = channel_order(maps, sort_by_mean)[:limit]
    columns, rows, tile_w, tile_h = grid_geometry(len(order), tuple(maps.shape[1:]), tile)
    canvas = np.full((rows * (tile_h + gap) + gap, columns * (tile_w + gap) + gap, 3), 255, dtype=np.uint8)
    low, high = float(maps.min()), float(maps.max())
    for place, channel in enumerate(order):
        values = maps[channel]
        if not shared_scale:
            low, high = float(values.min()), float(values.max())
        picture = enlarge(colourise(values, low, high, scale), max(tile_w, tile_h))[:tile_h, :tile_w]
        top, left = gap + (place // columns) * (tile_h + gap), gap + (place % columns) * (tile_w + gap)
        canvas[top:top + tile_h, left:left + tile_w] = picture
    image = Image.fromarray(canvas)
    return with_title(image, title) if title else image


def tile_at(maps_shape: tuple[int, int, int], point: tuple[int, int], sort_order: Sequence[int], tile: int = 48,
            gap: int = 2, title_band: int = 0) -> tuple[int, int, int] | None:
    """(channel, row, column) of the unit under ``point`` (x, y) in a :func:`feature_grid` picture, or None."""
    count = len(sort_order)
    columns, rows, tile_w, tile_h = grid_geometry(count, maps_shape[1:], tile)
    x, y = point[0] - gap, point[1] - gap - title_band
    if x < 0 or y < 0:
        return None
    column, row = x // (tile_w + gap), y // (tile_h + gap)
    inside_x, inside_y = x % (tile_w + gap), y % (tile_h + gap)
    place = row * columns + column
    if column >= columns or place >= count or inside_x >= tile_w or inside_y >= tile_h:
        return None
    factor_y, factor_x = tile_h // maps_shape[1], tile_w // maps_shape[2]
    return sort_order[place], inside_y // factor_y, inside_x // factor_x


def filters_picture(weight: torch.Tensor, title: str = "", tile: int = 24) -> Image.Image:
    """Convolution filters (out, in, k, k): colour patches for 3 input channels, else each filter's mean over inputs.

    Each filter is scaled to its own range (a filter's pattern, not its size, is what shows).
    """
    weight = weight.detach().float().cpu()
    count = weight.shape[0]
    columns, rows, tile_w, tile_h = grid_geometry(count, tuple(weight.shape[2:]), tile)
    gap = 2
    canvas = np.full((rows * (tile_h + gap) + gap, columns * (tile_w + gap) + gap, 3), 255, dtype=np.uint8)
    for number in range(count):
        if weight.shape[1] == 3:
            patch = weight[number]
            low, high = float(patch.min()), float(patch.max())
            span = high - low if high > low else 1.0
            rgb = ((patch - low) / span * 255).round().clamp(0, 255).to(torch.uint8).numpy().transpose(1, 2, 0)
        else:
            mean = weight[number].mean(dim=0)
            rgb = colourise(mean, float(mean.min()), float(mean.max()), "grey")
        picture = enlarge(np.ascontiguousarray(rgb), max(tile_w, tile_h))[:tile_h, :tile_w]
        top, left = gap + (number // columns) * (tile_h + gap), gap + (number % columns) * (tile_w + gap)
        canvas[top:top + tile_h, left:left + tile_w] = picture
    image = Image.fromarray(canvas)
    return with_title(image, title) if title else image


def histogram_chart(counts: Sequence[int], edges: Sequence[float], title: str, width: int = 240,
                    height: int = 110) -> Image.Image:
    """A bar chart of one histogram, with its range under it."""
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    small = font(10)
    draw.text((4, 2), title, fill=INK, font=small)
    top, bottom, left, right = 16, height - 16, 4, width - 4
    peak = max(max(counts), 1)
    bar = (right - left) / len(counts)
    for number, count in enumerate(counts):
        x0 = left + number * bar
        y0 = bottom - (bottom - top) * count / peak
        if count:
            draw.rectangle((x0, y0, x0 + max(bar - 1, 1), bottom), fill=(49, 104, 142))
    draw.line((left, bottom, right, bottom), fill=FAINT)
    draw.text((left, bottom + 2), f"{edges[0]:.3g}", fill=FAINT, font=small)
    high = f"{edges[-1]:.3g}"
    draw.text((right - small.getlength(high), bottom + 2), high, fill=FAINT, font=small)
    return image


def histograms_picture(charts: Sequence[Image.Image], columns: int = 3) -> Image.Image:
    """Histogram charts side by side, ``columns`` to a row."""
    if not charts:
        return Image.new("RGB", (240, 20), BACKGROUND)
    width, height = charts[0].size
    rows = math.ceil(len(charts) / columns)
    canvas = Image.new("RGB", (columns * width, rows * height), BACKGROUND)
    for number, chart in enumerate(charts):
        canvas.paste(chart, ((number % columns) * width, (number // columns) * height))
    return canvas


def overlay_picture(pixels: torch.Tensor, heat: torch.Tensor, opacity: float = 0.5, title: str = "",
                    size: int = 256, scale: str = "inferno") -> Image.Image:
    """The image with a [0, 1] heat map over it at ``opacity`` (0: only the image, 1: only the map)."""
    base = pixels_to_rgb(pixels).astype(np.float64)
    high = float(heat.max())
    colours = colourise(heat, 0.0, high if high > 0 else 1.0, scale).astype(np.float64)
    mixed = ((1 - opacity) * base + opacity * colours).round().astype(np.uint8)
    image = Image.fromarray(enlarge(mixed, size))
    return with_title(image, title) if title else image


def _draw_box(image: Image.Image, box: tuple[tuple[int, int], tuple[int, int]] | None, factor: int,
              colour=HIGHLIGHT) -> None:
    """Outline input rows top..bottom and columns left..right (inclusive), enlarged by ``factor``."""
    if box is None:
        return
    (top, bottom), (left, right) = box
    ImageDraw.Draw(image).rectangle((left * factor, top * factor, (right + 1) * factor - 1,
                                     (bottom + 1) * factor - 1), outline=colour, width=2)


def receptive_field_picture(pixels: torch.Tensor, box, effective: torch.Tensor, title: str = "",
                            size: int = 256) -> Image.Image:
    """The image with the unit's theoretical field (clipped to the image) beside the effective field.

    ``box``: ((top, bottom), (left, right)) in input pixels, inclusive; None when
    the field holds no input pixel. ``effective``: (H, W) gradient magnitudes.
    """
    rgb = pixels_to_rgb(pixels)
    factor = max(1, math.ceil(size / max(rgb.shape[:2])))
    left_image = Image.fromarray(enlarge(rgb, size))
    _draw_box(left_image, box, factor)
    right_image = Image.fromarray(enlarge(colourise(effective, 0.0, float(effective.max()) or 1.0, "inferno"), size))
    _draw_box(right_image, box, factor, (80, 200, 255))
    small = font(11)
    band = 18
    canvas = Image.new("RGB", (left_image.width * 2 + 8, left_image.height + band), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((2, 2), "theoretical field", fill=INK, font=small)
    draw.text((left_image.width + 10, 2), "effective field |d unit / d x|", fill=INK, font=small)
    canvas.paste(left_image, (0, band))
    canvas.paste(right_image, (left_image.width + 8, band))
    return with_title(canvas, title) if title else canvas


def top_picture(top: Sequence[tuple[str, float]], title: str = "top-5", width: int = 320) -> Image.Image:
    """Horizontal bars of the most probable classes with their probabilities."""
    row = 22
    image = Image.new("RGB", (width, row * len(top) + 8), BACKGROUND)
    draw = ImageDraw.Draw(image)
    small = font(12)
    label_width = max([small.getlength(name) for name, _ in top] + [40]) + 10
    bar_space = width - label_width - 60
    for number, (name, probability) in enumerate(top):
        y = 4 + number * row
        draw.text((4, y + 3), name, fill=INK, font=small)
        draw.rectangle((label_width, y + 3, label_width + max(1, bar_space * probability), y + row - 4),
                       fill=(31, 158, 137) if number == 0 else (62, 74, 137))
        draw.text((label_width + bar_space * probability + 6, y + 3), f"{probability:.1%}", fill=INK, font=small)
    return with_title(image, title)


def image_picture(pixels: torch.Tensor, title: str = "", size: int = 256) -> Image.Image:
    """The image itself, enlarged."""
    image = Image.fromarray(enlarge(pixels_to_rgb(pixels), size))
    return with_title(image, title) if title else image


def png_bytes(image: Image.Image) -> bytes:
    """``image`` encoded as PNG."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(image: Image.Image, path: str | Path) -> Path:
    """Write ``image`` as a PNG file atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, png_bytes(image))
    return path
