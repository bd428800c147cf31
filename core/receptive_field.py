"""Receptive fields: which input pixels one output unit of a layer can see.

Per spatial axis, three numbers describe every unit of a layer at once (the
classic recurrence, lecture 6's "deeper layers see more"):

- the size r: how many input pixels one unit's field spans;
- the jump j: how far apart (in input pixels) the fields of neighbouring units start;
- the start: the input position where unit 0's field begins (negative where
  the field reaches into zero padding).

A convolution or pooling layer with kernel k, stride s and padding P turns the
numbers of its input into::

    r_l = r_{l-1} + (k - 1) * j_{l-1}
    j_l = j_{l-1} * s
    start_l = start_{l-1} - P * j_{l-1}

so unit i of the layer sees input positions ``start + i*j`` to ``start + i*j + r - 1``.
Global pooling, flatten and a linear layer on feature maps see their whole
input map (a window as large as the map); normalisation, dropout and
activations keep the field. A block (residual, concat) sees the union of its
paths: the larger of them where they start at the same place.

Pure Python and computed from the design's layers directly, so it works for
designs that cannot be built. ``tests/test_receptive_field.py`` checks the
fields against autograd on generated designs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from convstudio.core.design import Design
from convstudio.core.layers import (
    Concat, LayerBase, Linear, Residual, _GlobalPooling, _SpatialLayer, inner_stacks,
)

_AXES = {2: ("height", "width"), 3: ("depth", "height", "width")}
_WHOLE_MAP_KINDS = ("flatten",)


@dataclass(frozen=True, slots=True)
class AxisField:
    """A layer's receptive field along one axis, and the step that produced it."""

    axis: str  # "depth", "height" or "width"
    size: int  # r: input pixels one unit spans (padding positions included)
    jump: int  # j: input pixels between the fields of neighbouring units
    start: int  # first input position of unit 0's field; negative inside the padding
    input_size: int  # the design input's size on this axis
    map_size: int | None  # units of this layer along the axis; None when unknown
    # How the numbers followed from the layer's input (formatted only when shown, see ``step``):
    rule: str  # "window" (convolution, pooling), "whole map", "same" or "union" (a block's merge)
    before: tuple[int, int, int]  # r, j and start of the layer's input
    window: tuple[int, ...] = ()  # (k, s, P) for "window"; (units,) for "whole map"
    paths: tuple[tuple[str, int], ...] = ()  # (path, r) of each path for "union"

    @property
    def step(self) -> str:
        """How r, j and start follow from the layer's input, with the user's numbers."""
        r0, j0, start0 = self.before
        if self.rule == "window":
            k, s, p = self.window
            return (f"r = {r0} + ({k} - 1)*{j0} = {self.size}, j = {j0}*{s} = {self.jump}, "
                    f"start = {start0} - {p}*{j0} = {self.start}")
        if self.rule == "whole map":
            (units,) = self.window
            if units == 1:
                return f"r = {self.size} (the map is one unit)"
            return f"r = {r0} + ({units} - 1)*{j0} = {self.size} (all {units} units of the map)"
        if self.rule == "union":
            parts = ", ".join(f"{name} {size}" for name, size in self.paths)
            return f"r = {self.size}, start = {self.start} (the union of the paths: {parts})"
        return f"r = {self.size}, j = {self.jump}, start = {self.start} (as its input)"

    def span(self, unit: int) -> tuple[int, int]:
        """First and last input position (inclusive) that unit ``unit`` sees; may reach outside the input."""
        first = self.start + unit * self.jump
        return first, first + self.size - 1

    def clipped_span(self, unit: int) -> tuple[int, int] | None:
        """:meth:`span` cut to the input's pixels; None when it lies wholly in the padding."""
        first, last = self.span(unit)
        first, last = max(first, 0), min(last, self.input_size - 1)
        return (first, last) if first <= last else None

    @property
    def covers_input(self) -> bool:
        """True when some unit of the layer sees every input position along this axis.

        A field as large as the input is not enough: with padding it may hang
        over one edge and miss the other.
        """
        first_unit = max(0, -(-(self.input_size - self.start - self.size) // self.jump))  # ceil division
        last_unit = (-self.start) // self.jump
        if self.map_size is not None:
            last_unit = min(last_unit, self.map_size - 1)
        return first_unit <= last_unit


@dataclass(frozen=True, slots=True)
class LayerField:
    """The receptive field of one layer's units, per spatial axis."""

    path: str  # "3" for the design's fourth layer, "5.body.0" inside a block
    kind: str
    axes: tuple[AxisField, ...]
    windowed: bool = False  # a convolution or pooling layer: the recurrence's window step made it
    passes_through: bool = False  # it keeps its input's field (normalisation, dropout, activations)

    @property
    def sizes(self) -> tuple[int, ...]:
        """r per axis, e.g. ``(7, 7)``."""
        return tuple(axis.size for axis in self.axes)

    @property
    def jumps(self) -> tuple[int, ...]:
        """j per axis."""
        return tuple(axis.jump for axis in self.axes)

    @property
    def starts(self) -> tuple[int, ...]:
        """start per axis."""
        return tuple(axis.start for axis in self.axes)

    @property
    def covers_input(self) -> bool:
        """True when some unit of the layer sees the whole input (on every axis)."""
        return all(axis.covers_input for axis in self.axes)

    @property
    def size_text(self) -> str:
        """``7x7``, with `` (whole input)`` when it covers the input."""
        text = "x".join(str(size) for size in self.sizes)
        return text + " (whole input)" if self.covers_input else text

    def box(self, unit: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        """Per axis, the first and last input position the unit at ``unit`` (one index per axis) sees."""
        return tuple(axis.span(index) for axis, index in zip(self.axes, unit))

    def clipped_box(self, unit: tuple[int, ...]) -> tuple[tuple[int, int], ...] | None:
        """:meth:`box` cut to the input's pixels; None when the field holds no input pixel."""
        spans = tuple(axis.clipped_span(index) for axis, index in zip(self.axes, unit))
        return None if None in spans else spans

    def steps(self) -> list[tuple[str, str]]:
        """(axis letters, step) with the user's numbers; axes with the same numbers share one entry."""
        groups: dict[str, list[str]] = {}
        for axis in self.axes:
            step = (f"r = {axis.size}, j = {axis.jump}, start = {axis.start} (as its input)"
                    if self.passes_through else axis.step)
            groups.setdefault(step, []).append(axis.axis[0].upper())
        return [(", ".join(axes), step) for step, axes in groups.items()]

    @property
    def text(self) -> str:
        """The recurrence with the user's numbers; axes with the same numbers share one line."""
        lines = "; ".join(f"{axes}: {step}" for axes, step in self.steps())
        if self.covers_input:
            whole = "x".join(str(axis.input_size) for axis in self.axes)
            lines += f" - covers the whole {whole} input"
        return lines


@dataclass(frozen=True, slots=True)
class _Axis:
    """The walk's state on one axis: the field and the map size the next layer receives."""

    size: int
    jump: int
    start: int
    map_size: int | None


_State = tuple[_Axis, ...]
# One axis after a layer: the new state, the rule, its numbers (window) and the merged paths.
_Step = tuple[_Axis, str, tuple[int, ...], tuple[tuple[str, int], ...]]


def _window(axis: _Axis, kernel: int, stride: int, padding: int) -> _Step:
    map_size = None
    if axis.map_size is not None:
        map_size = (axis.map_size + 2 * padding - kernel) // stride + 1
        map_size = map_size if map_size >= 1 else None
    after = _Axis(axis.size + (kernel - 1) * axis.jump, axis.jump * stride, axis.start - padding * axis.jump, map_size)
    return after, "window", (kernel, stride, padding), ()


def _whole_map(axis: _Axis) -> _Step | None:
    """A window as large as the map: global pooling, flatten. None when the map size is unknown."""
    units = axis.map_size
    if units is None:
        return None
    return _Axis(axis.size + (units - 1) * axis.jump, axis.jump, axis.start, 1), "whole map", (units,), ()


def _merge(paths: list[tuple[str, _State]]) -> list[_Step]:
    """The union of the paths' fields, per axis: what a sum or a concatenation sees."""
    merged = []
    for number in range(len(paths[0][1])):
        axes = [(name, state[number]) for name, state in paths]
        start = min(axis.start for _, axis in axes)
        end = max(axis.start + axis.size - 1 for _, axis in axes)
        jump = max(axis.jump for _, axis in axes)
        merged.append((_Axis(end - start + 1, jump, start, axes[0][1].map_size), "union", (),
                       tuple((name, axis.size) for name, axis in axes)))
    return merged


class _Walker:
    """Walks a stack of layers, recording each layer's field under its path."""

    def __init__(self, input_sizes: tuple[int, ...]):
        self.input_sizes = input_sizes
        self.fields: dict[str, LayerField | None] = {}

    def walk(self, layers: list[LayerBase], state: _State | None, prefix: str) -> _State | None:
        """Record every layer of ``layers``; returns the state after the last one (None: unknown)."""
        for index, layer in enumerate(layers):
            state = self.visit(layer, index, state, prefix)
        return state

    def visit(self, layer: LayerBase, index: int, state: _State | None, prefix: str) -> _State | None:
        """Record ``layer`` (at ``index`` of the stack ``prefix``) and what is inside it; the state after it."""
        path = f"{prefix}.{index}" if prefix else str(index)
        steps = self._step(layer, state, path) if state is not None else None
        if steps is None:
            self._mark_unknown(layer, path)
            return None
        if steps == "same":  # the input's field: its axes are shared, not copied
            self.fields[path] = LayerField(path, layer.kind, self._axes_of(state, prefix, index),
                                           passes_through=True)
            return state
        before = state
        state = tuple(step[0] for step in steps)
        self.fields[path] = LayerField(path, layer.kind, tuple(
            AxisField(name, axis.size, axis.jump, axis.start, input_size, axis.map_size, rule,
                      (previous.size, previous.jump, previous.start), window, paths)
            for name, (axis, rule, window, paths), input_size, previous
            in zip(_AXES[len(state)], steps, self.input_sizes, before)
        ), windowed=isinstance(layer, _SpatialLayer))
        return state

    def _axes_of(self, state: _State, prefix: str, index: int) -> tuple[AxisField, ...]:
        """The axes of the field the walk is at: the previous layer's, or fresh ones for a stack's input."""
        previous = self.fields.get(f"{prefix}.{index - 1}" if prefix else str(index - 1)) if index else None
        if previous is not None:
            return previous.axes
        return tuple(AxisField(name, axis.size, axis.jump, axis.start, input_size, axis.map_size, "same",
                               (axis.size, axis.jump, axis.start))
                     for name, axis, input_size in zip(_AXES[len(state)], state, self.input_sizes))

    def _step(self, layer: LayerBase, state: _State, path: str) -> list[_Step] | str | None:
        """The new per-axis state and step texts after ``layer``; None when the field cannot be followed."""
        if isinstance(layer, _SpatialLayer):
            rank = layer.spatial_rank
            if rank != len(state):
                return None
            settings = [layer.axis_values(field, rank) for field in ("kernel_size", "stride", "padding")]
            if None in settings:
                return None
            return [_window(axis, k, s, p) for axis, k, s, p in zip(state, *settings)]
        if isinstance(layer, _GlobalPooling) or layer.kind in _WHOLE_MAP_KINDS or (
                isinstance(layer, Linear) and any(axis.map_size != 1 for axis in state)):
            steps = [_whole_map(axis) for axis in state]
            return None if None in steps else steps
        if isinstance(layer, (Residual, Concat)):
            paths = []
            for part, layers in inner_stacks(layer):
                if isinstance(layer, Residual) and part == "shortcut" and not layers:
                    paths.append(("identity", state))
                    continue
                end = self.walk(layers, state, f"{path}.{part}")
                if end is None:
                    return None
                label = part if isinstance(layer, Residual) else f"branch {int(part.split('.')[1]) + 1}"
                paths.append((label, end))
            return _merge(paths)
        return "same"

    def _mark_unknown(self, layer: LayerBase, path: str) -> None:
        """A layer after one whose field cannot be followed: unknown, with everything inside it."""
        self.fields[path] = None
        for part, layers in inner_stacks(layer):
            for index, inner in enumerate(layers):
                self._mark_unknown(inner, f"{path}.{part}.{index}")


def _input_walk(design: Design) -> tuple[_Walker, _State]:
    spec = design.input
    sizes = (spec.height, spec.width) if spec.depth is None else (spec.depth, spec.height, spec.width)
    return _Walker(sizes), tuple(_Axis(1, 1, 0, size) for size in sizes)


def receptive_fields_by_path(design: Design) -> dict[str, LayerField | None]:
    """Every layer's receptive field by its path (``"3"``, ``"5.body.0"``), None where it cannot be followed.

    A field cannot be followed past a layer the shape engine refuses on rank
    (a 2-D layer on volumes) or past global pooling of a map whose size an
    earlier failure left unknown.
    """
    walker, state = _input_walk(design)
    walker.walk(list(design.layers), state, "")
    return walker.fields


@dataclass(frozen=True, slots=True)
class FieldWalk:
    """The top-level fields of one design, with the walk's state after each layer (for :func:`follow_fields`)."""

    design: Design
    fields: list[LayerField | None]
    states: list[_State | None]


def follow_fields(design: Design, earlier: FieldWalk | None = None) -> FieldWalk:
    """The receptive field of each of ``design``'s own layers, reusing what ``earlier`` found.

    A layer's field depends only on the layer and the state it receives. Edits
    give a new design that keeps the layer objects they did not touch, so a
    layer that is the very object it was in ``earlier`` and receives the same
    state keeps its field (renamed to its new position): after an edit that
    leaves the field where it was (a channel count, a dropout rate) or near the
    end of a long design, only the edited layers are walked again. The result
    equals :func:`receptive_fields` (``tests/test_receptive_field.py``).
    """
    walker, state = _input_walk(design)
    initial = state
    old_position = {}
    if earlier is not None and earlier.design.input == design.input:
        old_position = {id(layer): index for index, layer in enumerate(earlier.design.layers)}
    fields: list[LayerField | None] = []
    states: list[_State | None] = []
    previous_kept = False
    for index, layer in enumerate(design.layers):
        old = old_position.get(id(layer))
        keep = old is not None and earlier.design.layers[old] is layer and \
            (earlier.states[old - 1] if old else initial) == state
        field = earlier.fields[old] if keep else None
        if field is not None and field.passes_through:
            # It shares its predecessor's axes (their step texts): kept only after that same
            # predecessor, itself kept.
            keep = previous_kept and old > 0 and index > 0 and \
                old_position.get(id(design.layers[index - 1])) == old - 1
        previous_kept = keep
        if keep:
            if field is not None and old != index:
                field = replace(field, path=str(index))
            state = earlier.states[old]
            if field is not None:
                walker.fields[str(index)] = field  # a following layer that keeps its field shares its axes
        else:
            state = walker.visit(layer, index, state, "")
            field = walker.fields[str(index)]
        fields.append(field)
        states.append(state)
    return FieldWalk(design, fields, states)


def receptive_fields(design: Design) -> list[LayerField | None]:
    """The receptive field of each of the design's own layers, in order (blocks as their merged field)."""
    fields = receptive_fields_by_path(design)
    return [fields[str(index)] for index in range(len(design.layers))]
