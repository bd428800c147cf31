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

    ``changes`` are field values for the layer itself; ``insert_before`` is a
    layer (as design-file data) to insert in front of it.
    """

    description: str
    changes: dict[str, Any] | None = None
    insert_before: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ShapeProblem:
    """Why a layer cannot work on what it receives, and how to fix it."""

    message: str
    field: str | None = None
    fixes: tuple[LayerFix, ...] = ()

    def __str__(self) -> str:
        if not self.fixes:
            return self.message
        return f"{self.message}. Fix: {'; or '.join(fix.description for fix in self.fixes)}"


@dataclass(frozen=True, slots=True)
class LayerShape:
    """What the shape engine knows about one layer of a design."""

    index: int  # 0-based position in the design
    kind: str
    name: str  # the module name the builder gives it
    input_shape: Shape | None
    output_shape: Shape | None
    params: int | None  # None when the input is unknown
    macs: int | None  # multiply-accumulates per sample (convolutions and linear layers)
    formulas: tuple[AxisFormula, ...] = ()
    problem: ShapeProblem | None = None

    @property
    def label(self) -> str:
        """``layer 3 (conv2d)``: how messages refer to this layer (1-based)."""
        return f"layer {self.index + 1} ({self.kind})"

    @property
    def output_known(self) -> bool:
        """True when every output size is known."""
        return self.output_shape is not None and None not in self.output_shape

    @property
    def error(self) -> str | None:
        """The problem as one sentence with its fixes, or None."""
        return None if self.problem is None else str(self.problem)


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
        """The first problem, as ``layer N (kind): message. Fix: ...``."""
        if not self.problems:
            return None
        first = self.problems[0]
        return f"{first.label}: {first.error}"

    @staticmethod
    def count_values(shape: Shape | None) -> int:
        """Number of floats in a shape; 0 when any size is unknown."""
        if shape is None or None in shape:
            return 0
        return math.prod(shape)  # type: ignore[arg-type]
