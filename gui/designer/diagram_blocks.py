"""Where the network diagram puts the volumes of a design with blocks, and the lines that join them.

A plain design is one row of volumes. With blocks the diagram grows lanes
(bands, one above another): a residual block's body runs on in its lane and
its skip connection is an arc over the body, from the volume the block
receives to the block's output (labelled with what the shortcut does); a
shortcut that has layers runs in a lane below instead, joined by lines. A
concat block's branches run side by side in lanes of their own, fanning out
from the block's input and in to its output. The block's output is a volume
of its own, named after the block, with the shapes that meet at its merge.

Plain geometry over the shape report; the diagram widget paints what this
returns. No widgets here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from convstudio.core.layers import Concat, LayerBase, Residual
from convstudio.core.shape_records import DesignReport, LayerShape, format_shape

SHAPE_KEEPING = frozenset({"batchnorm", "dropout", "activation", "softmax"})
GAP = 26.0
MARGIN = 16.0


@dataclass
class Link:
    """A line between two volumes: ``arc`` (a skip connection over a body) or ``elbow`` (into or out of a lane)."""

    kind: str
    source: object  # the Volume it leaves (at its right side)
    target: object  # the Volume it enters (at its left side)
    level: int = 0  # arcs: how deep the block is nested (deeper arcs run lower)
    label: str = ""
    via_band: int | None = None  # elbows of an empty branch or shortcut: the lane they run along


@dataclass
class BlockLayout:
    """Volumes (each with ``x``, ``width`` and ``band`` set), links, and how many lanes and arc levels."""

    volumes: list = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    bands: int = 1
    levels: int = 0


def merge_lines(record: LayerShape) -> list[str]:
    """The shapes that meet at a block's merge, in at most two short lines for the label under its output.

    A sum: ``body 64x16x16`` and ``+ shortcut 64x16x16``; a join: the channels
    of each branch added up (``8 + 16 + 16 ch``).
    """
    sides = list(record.merge)
    if not sides:
        return []
    if record.kind == "concat":
        channels = [("?" if shape is None or shape[0] is None else str(shape[0])) for _side, shape in sides]
        return [f"joins {' + '.join(channels)} ch"]
    first, *rest = sides
    return [f"{first[0]} {format_shape(first[1])}"] + [f"+ {side} {format_shape(shape)}" for side, shape in rest][:1]


class _Builder:
    """Places volumes left to right, lane by lane, as the design's stacks nest."""

    def __init__(self, volume_for: Callable, measure: Callable, first_problem: int | None,
                 collapsed: frozenset = frozenset()):
        self.volume_for = volume_for  # (title, kind, shape, state) -> Volume
        self.measure = measure  # Volume -> its width (box and labels)
        self.first_problem = first_problem
        self.result = BlockLayout()
        self.band_ends: dict[int, float] = {}  # how far right each lane is taken
        self.collapsed = collapsed  # blocks (layer paths) collapsed in the stack: drawn as their output only

    def place(self, volume, band: int, x: float):
        volume.band = band
        volume.x = x
        volume.width = self.measure(volume)
        self.result.volumes.append(volume)
        self.take(band, volume.x + volume.width)
        return volume

    def take(self, band: int, right: float) -> None:
        """Lane ``band`` is taken up to ``right``."""
        self.band_ends[band] = max(self.band_ends.get(band, 0.0), right)
        self.result.bands = max(self.result.bands, band + 1)

    def free_band(self, below: int, x: float) -> int:
        """The first lane under ``below`` that is free from ``x`` on: lanes are shared along the diagram."""
        band = below + 1
        while self.band_ends.get(band, float("-inf")) > x - GAP / 2:
            band += 1
        self.take(band, x)
        return band

    def state(self, record: LayerShape, top: int, own_failure: bool) -> str:
        if own_failure:
            return "error"
        return "affected" if self.first_problem is not None and top > self.first_problem else "ok"

    def stack(self, records, layers: list[LayerBase], band: int, x: float, entry, top: int | None, level: int,
              onto_entry: bool = False, prefix: tuple = ()):
        """Lay a stack out from ``x`` in ``band`` after volume ``entry``; returns (end x, last volume, placed any).

        ``top`` is the top-level position the stack belongs to (None: the design's own layers, each its
        own). Shape-keeping layers are named under the volume before them; with ``onto_entry`` that
        may be ``entry`` itself (the input, at the top level).
        """
        last, placed = entry, False
        for record, layer in zip(records, layers):
            own_top = record.index if top is None else top
            if isinstance(layer, (Residual, Concat)):
                x, last = self.block(record, layer, band, x, last, own_top, level, (*prefix, record.index))
                placed = True
                continue
            failing = record.problem is not None
            if layer.kind in SHAPE_KEEPING and not failing and (placed or onto_entry):
                last.extras.append(record.name)  # named under the volume it acts on
                last.width = self.measure(last)
                x = max(x, last.x + last.width + GAP)
                continue
            volume = self.volume_for(record.name, record.kind, record.output_shape, self.state(record, own_top, failing))
            last = self.place(volume, band, x)
            x = volume.x + volume.width + GAP
            placed = True
        return x, last, placed

    def block(self, record: LayerShape, layer, band: int, x: float, entry, top: int, level: int, path: tuple):
        """Lay a block out: its stacks, then its output volume; returns (end x, output volume).

        A block collapsed in the stack is its output volume alone.
        """
        result = self.result
        merge_failing = record.problem is not None and not record.problem.path
        output = self.volume_for(record.name, "merge", record.output_shape, self.state(record, top, merge_failing))
        output.extras.extend(merge_lines(record))
        links: list[Link] = []
        ends = [x]
        if path in self.collapsed:
            pass
        elif isinstance(layer, Residual):
            body = record.stack("body")
            end, last, _placed = self.stack(body.layers, layer.body, band, x, entry, top, level + 1,
                                            prefix=(*path, "body"))
            ends.append(end)
            if layer.shortcut:
                lane = self.free_band(band, x)
                shortcut = record.stack("shortcut")
                count_before = len(result.volumes)
                end, last_short, placed = self.stack(shortcut.layers, layer.shortcut, lane, x, entry, top, level + 1,
                                                     prefix=(*path, "shortcut"))
                ends.append(end)
                if placed:
                    links.append(Link("elbow", entry, result.volumes[count_before], label="shortcut"))
                    links.append(Link("elbow", last_short, output))
            else:
                links.append(Link("arc", entry, output, level, "identity"))
                result.levels = max(result.levels, level + 1)
        else:
            empty_lanes = []
            for number, branch in enumerate(layer.branches):
                lane = band if number == 0 else self.free_band(band, x)
                records = record.stack(f"branches.{number}").layers
                count_before = len(result.volumes)
                end, last, placed = self.stack(records, branch, lane, x, entry, top, level + 1,
                                               prefix=(*path, f"branches.{number}"))
                ends.append(end)
                if not placed:  # the input itself: a line along its lane
                    empty_lanes.append(lane)
                    links.append(Link("elbow", entry, output, via_band=lane))
                    continue
                if number:
                    links.append(Link("elbow", entry, result.volumes[count_before]))
                    links.append(Link("elbow", last, output))
        self.place(output, band, max(ends))
        if isinstance(layer, Concat) and path not in self.collapsed:
            for lane in empty_lanes:  # the line along an empty branch's lane runs up to the output
                self.take(lane, output.x)
        result.links.extend(links)
        return output.x + output.width + GAP, output


def block_layout(report: DesignReport, layers: list[LayerBase], input_volume, volume_for: Callable,
                 measure: Callable, collapsed: frozenset = frozenset()) -> BlockLayout:
    """The volumes and links of a design with blocks (``input_volume`` first, at the left margin).

    Blocks in ``collapsed`` (layer paths, as the stack collapses them) are drawn as their output alone.
    """
    first_problem = report.problems[0].index if report.problems else None
    builder = _Builder(volume_for, measure, first_problem, collapsed)
    builder.place(input_volume, 0, MARGIN)
    x = input_volume.x + input_volume.width + GAP
    builder.stack(report.layers, layers, 0, x, input_volume, None, 0, onto_entry=True)
    return builder.result
