"""The boxes of the network diagram: each feature-map volume's size, drawn to (log) scale, and its labels.

Plain geometry, no painting: :class:`Volume` is one box; ``volume_for`` sizes
it from a layer's output shape (height from the spatial size, thickness from
the channels, the receding side from the width; flat vectors are thin bars).
:mod:`~convstudio.gui.designer.diagram` lays the boxes out and paints them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from convstudio.core.shape_records import Shape, format_shape

GAP = 26.0  # px between two volumes; their labels reach half of it beyond the box


def spatial_px(size: int | None) -> float:
    """Drawn height of a spatial size, logarithmic: 32 -> 114 px, 8 -> 74 px, 1 -> 14 px."""
    if size is None:
        return 40.0
    return min(190.0, 14.0 + 20.0 * math.log2(max(size, 1)))


def channel_px(channels: int | None) -> float:
    """Drawn thickness of a channel count: 3 -> 13 px, 64 -> 40 px, 512 -> 58 px."""
    if channels is None:
        return 10.0
    return min(64.0, 4.0 + 6.0 * math.log2(max(channels, 1)))


def vector_px(values: int | None) -> float:
    """Drawn height of a flat vector: 10 -> 56 px, 500 -> 135 px, 4096 -> 178 px."""
    if values is None:
        return 40.0
    return min(200.0, 10.0 + 14.0 * math.log2(max(values, 1)))


@dataclass
class Volume:
    """One box of the diagram, with its geometry and labels (x is its left edge)."""

    title: str
    shape_text: str
    extras: list[str]
    category: str  # input, conv, pool or vector
    state: str  # ok, error or affected
    height: float
    thickness: float
    depth: float  # receding side, drawn up and to the right
    x: float = 0.0
    width: float = 0.0  # of box and labels together
    band: int = 0  # the lane it runs in (designs with blocks: branches and shortcuts below the main lane)


@functools.lru_cache(maxsize=4096)
def volume_geometry(kind: str, shape: Shape | None) -> tuple[str, str, float, float, float]:
    """(shape text, category, height, thickness, depth) of a layer's box: the same for the same output."""
    category = ("conv" if kind.startswith("conv") else "pool" if "pool" in kind
                else "input" if kind == "input" else "merge" if kind == "merge" else "vector")
    if shape is not None and len(shape) == 1:
        height, thickness, depth = vector_px(shape[0]), 8.0, 6.0
        category = "vector" if category not in ("input", "merge") else category
    elif shape is not None:
        height = spatial_px(shape[-2])
        thickness = channel_px(shape[0])
        depth = 0.45 * spatial_px(shape[-1])
    else:
        height, thickness, depth = 40.0, 10.0, 18.0
    return format_shape(shape), category, height, thickness, depth


def volume_for(title: str, kind: str, shape: Shape | None, state: str) -> Volume:
    """The box of a layer named ``title`` (or the input, or a block's merge) with this output shape."""
    text, category, height, thickness, depth = volume_geometry(kind, shape)
    return Volume(title, text, [], category, state, height, thickness, depth)


def extra_lines(volume: Volume) -> list[str]:
    """The shape-keeping layers under a box, in at most two lines."""
    extras = volume.extras
    return extras if len(extras) <= 2 else [extras[0], f"+{len(extras) - 1} more"]


def appearance(volume: Volume, max_height: float, ratio: float) -> tuple:
    """Everything that decides how ``volume`` is drawn, except where (its cached pixmap's key)."""
    return (volume.title, volume.shape_text, tuple(volume.extras), volume.category, volume.state,
            volume.height, volume.thickness, volume.depth, volume.width, max_height, ratio)


def pixmap_left(volume: Volume) -> int:
    """Where the cached picture of ``volume`` (with its labels) begins: a whole pixel."""
    return math.floor(volume.x - GAP / 2)


def changed_span(before: list[Volume], after: list[Volume], width: float) -> tuple[float, float] | None:
    """The horizontal span (left, right) where ``after`` is drawn differently from ``before``, or None.

    Volumes equal at the start and at the end (position included) are drawn
    the same; everything between the first and last difference is repainted,
    labels included (they reach half a gap beyond a volume on each side).
    """
    start = 0
    limit = min(len(before), len(after))
    while start < limit and before[start] == after[start]:
        start += 1
    if start == len(before) == len(after):
        return None
    end_before, end_after = len(before), len(after)
    while end_before > start and end_after > start and before[end_before - 1] == after[end_after - 1]:
        end_before -= 1
        end_after -= 1
    changed = before[start:end_before] + after[start:end_after]
    left = min(volume.x for volume in changed) - GAP
    right = max(volume.x + volume.width for volume in changed) + GAP
    return max(0.0, left), min(width, right)
