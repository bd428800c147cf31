"""The shape engine's results: small immutable records, cheap to build.

Formula texts are formatted when asked for, not when a design is checked, so a
recheck on every keystroke stays fast on designs of hundreds of layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# A per-sample shape without the batch axis: (features,), (C, H, W) or (C, D, H, W).
# None stands for a size that cannot be known because an earlier layer failed.
Shape = tuple["int | None", ...]

_AXIS_UNITS = {"depth": "slices", "height": "rows", "width": "columns"}


def format_shape(shape: Shape | None) -> str:
    """``(64, 17, 17)`` as ``64x17x17``; unknown sizes as ``?``."""
    if shape is None:
        return "?"
    return "x".join("?" if size is None else str(size) for size in shape)


@dataclass(frozen=True, slots=True)
class AxisFormula:
    """One axis of a convolution or pooling output size, with the lecture's equation."""

    axis: str  # "depth", "height" or "width"
    size_in: int  # d
    kernel: int  # k (or h for pooling)
    stride: int  # s
    padding: int  # P
    pooling: bool

    @property
    def span(self) -> int:
        """d - k + 2P: how far the kernel can travel over the padded input."""
        return self.size_in - self.kernel + 2 * self.padding

    @property
    def size_out(self) -> int:
        """floor((d - k + 2P) / s) + 1; below 1 when the kernel does not fit."""
        return self.span // self.stride + 1

    @property
    def equation(self) -> str:
        """The lecture's equation number that gives this size."""
        return "17" if self.pooling else "14"

    @property
    def special_case(self) -> str | None:
        """The simpler lecture equation this case reduces to, with the numbers filled in."""
        if self.pooling:
            return None
        d, k, s, p = self.size_in, self.kernel, self.stride, self.padding
        if s == 1 and p == 0:
            return f"with s = 1 and P = 0 this is eq. (7): {d} - {k} + 1 = {self.size_out}"
        if s == 1:
            return f"with s = 1 this is eq. (10): {d} - {k} + 2*{p} + 1 = {self.size_out}"
        if p == 0:
            return f"with P = 0 this is eq. (12): floor(({d} - {k}) / {s}) + 1 = {self.size_out}"
        return None

    @property
    def text(self) -> str:
        """The size formula with the user's numbers, e.g. ``floor((32 - 4 + 2*2) / 1) + 1 = 33``."""
        d, k, s, p = self.size_in, self.kernel, self.stride, self.padding
        if self.pooling and p == 0:
            return f"floor(({d} - {k}) / {s}) + 1 = {self.size_out}"
        return f"floor(({d} - {k} + 2*{p}) / {s}) + 1 = {self.size_out}"

    @property
    def note(self) -> str | None:
        """Where the division is not exact: which rows, columns or slices are never covered."""
        if self.span < 0:
            return None
        dropped = self.span % self.stride
        if dropped == 0:
            return None
        unit = _AXIS_UNITS[self.axis]
        last = f"the last {unit[:-1]}" if dropped == 1 else f"the last {dropped} {unit}"
        return (
            f"{self.axis}: {self.span} is not a multiple of s = {self.stride}, so {last} of the "
            f"{'padded ' if self.padding else ''}input {'is' if dropped == 1 else 'are'} never covered and dropped"
        )


@dataclass(frozen=True, slots=True)
class LayerFix:
    """A concrete change that makes a layer possible.

    ``changes`` are field values for the layer the fix edits (for a block they
    may be whole stacks as design-file data, e.g. ``{"shortcut": [...]}``);
    ``insert_before`` is a layer (as design-file data) to insert in front of it.
    ``path`` leads from the layer whose problem lists the fix to the layer it
    edits: ``()`` for that layer itself, ``("body", 1)`` for its body's second
    layer (see :func:`path_text`).
    """

    description: str
    changes: dict[str, Any] | None = None
    insert_before: dict[str, Any] | None = None
    path: tuple = ()

    def moved_under(self, prefix: tuple) -> "LayerFix":
        """The same fix seen from a layer ``prefix`` above: its path lengthened in front."""
        return LayerFix(self.description, self.changes, self.insert_before, prefix + self.path)


@dataclass(frozen=True, slots=True)
class ShapeProblem:
    """Why a layer cannot work on what it receives, and how to fix it."""

    message: str
    field: str | None = None
    fixes: tuple[LayerFix, ...] = ()
    # From the layer holding this problem to the layer that fails: () for itself, ("body", 1)
    # for a block whose body's second layer fails (the block carries its inner layers' problems).
    path: tuple = ()

    def moved_under(self, prefix: tuple) -> "ShapeProblem":
        """The same problem seen from the block ``prefix`` above: paths lengthened in front."""
        return ShapeProblem(self.message, self.field, tuple(fix.moved_under(prefix) for fix in self.fixes),
                            prefix + self.path)

    def __str__(self) -> str:
        if not self.fixes:
            return self.message
        return f"{self.message}. Fix: {'; or '.join(fix.description for fix in self.fixes)}"


@dataclass(frozen=True, slots=True)
class LayerShape:
    """What the shape engine knows about one layer of a design (or of a block's stack).

    A block (residual, concat) has its inner stacks in ``stacks`` and the sides
    that meet at its merge in ``merge``; its ``params`` and ``macs`` are the
    totals of everything inside it, its ``output_shape`` the block's output.
    """

    index: int  # 0-based position in its own stack (the design's for top-level layers)
    kind: str
    name: str  # the module name the builder gives it (within its stack)
    input_shape: Shape | None
    output_shape: Shape | None
    params: int | None  # None when the input is unknown
    macs: int | None  # multiply-accumulates per sample (convolutions and linear layers)
    formulas: tuple[AxisFormula, ...] = ()
    problem: ShapeProblem | None = None
    stacks: tuple["StackShape", ...] = ()
    merge: tuple[tuple[str, "Shape | None"], ...] = ()  # (side label, shape) meeting at a block's merge

    @property
    def label(self) -> str:
        """``layer 3 (conv2d)``: how messages refer to this layer (1-based)."""
        return f"layer {self.index + 1} ({self.kind})"

    @property
    def is_block(self) -> bool:
        """True for a residual or concat block."""
        return bool(self.stacks)

    @property
    def output_known(self) -> bool:
        """True when every output size is known."""
        return self.output_shape is not None and None not in self.output_shape

    @property
    def error(self) -> str | None:
        """The problem as one sentence with its fixes, or None."""
        return None if self.problem is None else str(self.problem)

    @property
    def merge_text(self) -> str:
        """Both sides of a block's merge, e.g. ``body 128x16x16 + shortcut 128x16x16``; "" for a plain layer."""
        if not self.merge:
            return ""
        text = " + ".join(f"{side} {format_shape(shape)}" for side, shape in self.merge)
        return text + " (joined along channels)" if self.kind == "concat" else text

    def stack(self, part: str) -> "StackShape":
        """The inner stack called ``part`` (``body``, ``shortcut``, ``branches.1``)."""
        for stack in self.stacks:
            if stack.part == part:
                return stack
        raise KeyError(f"{self.label} has no stack {part!r}")

    def location(self, path: tuple = ()) -> str:
        """Where the layer at relative ``path`` sits, e.g. ``layer 5 (residual) > body > layer 2 (conv2d)``."""
        words = [self.label]
        record = self
        for part, index in zip(path[::2], path[1::2]):
            stack = record.stack(part)
            record = stack.layers[index]
            words += [stack.label, record.label]
        return " > ".join(words)

    @property
    def where(self) -> str:
        """Where this layer's problem sits: its own label, or the path to the inner layer that fails."""
        return self.location(self.problem.path if self.problem is not None else ())


@dataclass(frozen=True, slots=True)
class StackShape:
    """One stack inside a block: its part name, what enters and leaves it, and its layers."""

    part: str  # "body", "shortcut", "branches.0", ... (core.layers.inner_stacks' names)
    input_shape: Shape | None
    output_shape: Shape | None
    layers: tuple[LayerShape, ...]

    @property
    def label(self) -> str:
        """How messages name the stack: ``body``, ``shortcut``, ``branch 2``."""
        if self.part.startswith("branches."):
            return f"branch {int(self.part.split('.')[1]) + 1}"
        return self.part


def path_text(path: tuple) -> str:
    """A tuple path as users read it, every number counted from 1: ``(4, "body", 1)`` -> ``5.body.2``.

    ``(2, "branches.1", 0)`` -> ``3.branches.2.1`` (layer 3's second branch, its first layer).
    """
    words = []
    for step in path:
        if isinstance(step, int):
            words.append(str(step + 1))
        elif step.startswith("branches."):
            words.append(f"branches.{int(step.split('.')[1]) + 1}")
        else:
            words.append(step)
    return ".".join(words)


@dataclass(frozen=True, slots=True)
class ReportEntry:
    """One record of a report met while walking it: where it sits and how deep."""

    path: tuple  # 0-based tuple path, e.g. (4, "body", 1)
    record: LayerShape
    depth: int  # 0 for top-level layers
    module_name: str  # the builder's dotted module name, e.g. "res1.body.conv2"
    location: str  # "layer 5 (residual) > body > layer 2 (conv2d)"

    @property
    def path_text(self) -> str:
        """The path as users read it: ``5.body.2``."""
        return path_text(self.path)


@dataclass(frozen=True)
class DesignReport:
    """Shapes, sizes and problems of a whole design, as the shape engine found them."""

    input_shape: Shape
    layers: tuple[LayerShape, ...]
    total_params: int
    total_macs: int
    activation_values: int  # floats stored per sample: the input and every layer's output
    problems: tuple[LayerShape, ...] = field(default=())

    @property
    def valid(self) -> bool:
        """True when every layer works on what it receives."""
        return not self.problems

    @property
    def output_shape(self) -> Shape | None:
        """The network's per-sample output shape (the input's for an empty design)."""
        return self.layers[-1].output_shape if self.layers else self.input_shape

    @property
    def activation_bytes(self) -> int:
        """Activation memory per sample in float32, forward pass only."""
        return 4 * self.activation_values

    def first_error(self) -> str | None:
        """The first problem, as ``layer N (kind) > body > layer M (kind): message. Fix: ...``."""
        if not self.problems:
            return None
        first = self.problems[0]
        return f"{first.where}: {first.error}"

    def walk(self):
        """Every record, depth first, a block's inner layers right after it: :class:`ReportEntry` each."""
        def visit(records, prefix, depth, module_prefix, location_prefix):
            for record in records:
                path = prefix + (record.index,)
                module_name = module_prefix + record.name
                location = location_prefix + record.label
                yield ReportEntry(path, record, depth, module_name, location)
                for stack in record.stacks:
                    yield from visit(stack.layers, path + (stack.part,), depth + 1,
                                     f"{module_name}.{stack.part}.", f"{location} > {stack.label} > ")
        yield from visit(self.layers, (), 0, "", "")

    def parameter_layer_names(self) -> list[str]:
        """Qualified names of the layers that own parameters, blocks' contents included (``res1.body.conv1``).

        The rows of the per-layer training charts, in design order.
        """
        return [entry.module_name for entry in self.walk() if entry.record.params and not entry.record.stacks]

    def find(self, path: tuple) -> LayerShape:
        """The record at a 0-based tuple path such as ``(4, "body", 1)``."""
        record = self.layers[path[0]]
        for part, index in zip(path[1::2], path[2::2]):
            record = record.stack(part).layers[index]
        return record

    def location(self, path: tuple) -> str:
        """Where the layer at ``path`` sits: ``layer 5 (residual) > body > layer 2 (conv2d)``."""
        return self.layers[path[0]].location(path[1:])

    @staticmethod
    def count_values(shape: Shape | None) -> int:
        """Number of floats in a shape; 0 when any size is unknown."""
        if shape is None or None in shape:
            return 0
        return math.prod(shape)  # type: ignore[arg-type]
