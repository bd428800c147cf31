"""One pydantic model per layer kind: the vocabulary of a design file.

Each kind is a small model tagged by ``kind``; :data:`Layer` is their
discriminated union. Constraints (ranges, defaults, descriptions) live here and
only here: the shape engine, the builder and the GUI's inspector all read them
from these models.

Spatial settings (``kernel_size``, ``stride``, ``padding``) take an int or a
list with one entry per spatial axis in (depth, height, width) order.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ActivationName = Literal["relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu", "none"]

# A positive int, or one positive int per spatial axis (depth, height, width order).
SizeSetting = Union[Annotated[int, Field(ge=1)], list[Annotated[int, Field(ge=1)]]]
# Zero-padding added on every side, per axis or for all axes.
PaddingSetting = Union[Annotated[int, Field(ge=0)], list[Annotated[int, Field(ge=0)]]]

LAYER_NAME_DESCRIPTION = (
    "Optional readable name of the module built for this layer (a Python identifier); "
    "generated from the kind when left out."
)


class LayerBase(BaseModel):
    """Fields and behaviour shared by every layer kind."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True)

    name: str | None = Field(default=None, description=LAYER_NAME_DESCRIPTION)

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, value: str | None) -> str | None:
        if value is not None and not value.isidentifier():
            raise ValueError(f"must be a Python identifier such as 'conv1', got {value!r}")
        return value

    @property
    def spatial_rank(self) -> int | None:
        """How many spatial axes the layer works on (2 or 3), or None if any."""
        return None


class _SpatialLayer(LayerBase):
    """A convolution or pooling layer: per-axis kernel, stride and padding."""

    def axis_values(self, field: str, rank: int) -> tuple[int, ...] | None:
        """The setting ``field`` spread over ``rank`` axes; None if its list has another length."""
        value = getattr(self, field)
        if isinstance(value, int):
            return (value,) * rank
        return tuple(value) if len(value) == rank else None

    @model_validator(mode="after")
    def _lists_match_rank(self):
        rank = self.spatial_rank
        for field in ("kernel_size", "stride", "padding"):
            value = getattr(self, field, None)
            if isinstance(value, list) and len(value) != rank:
                axes = "depth, height, width" if rank == 3 else "height, width"
                raise ValueError(
                    f"{field} lists {len(value)} values but {self.kind} needs {rank} ({axes}), "
                    f"or one int for all axes"
                )
        return self


class _Convolution(_SpatialLayer):
    out_channels: int = Field(ge=1, le=65536, description="Number of feature maps C the layer produces.")
    kernel_size: SizeSetting = Field(description="Filter size k: one int, or one per spatial axis.")
    stride: SizeSetting = Field(default=1, description="Step s between filter positions (eq. 12).")
    padding: PaddingSetting = Field(default=0, description="Zeros P added on every side (eq. 8).")
    bias: bool = Field(default=True, description="Add a learned bias b to every feature map.")
    activation: ActivationName = Field(default="relu", description="Nonlinearity sigma applied to Z.")


class Conv2d(_Convolution):
    """2-D convolution (eq. 6-14): feature maps C x H x W in, out_channels x H' x W' out."""

    kind: Literal["conv2d"] = "conv2d"

    @property
    def spatial_rank(self) -> int:
        return 2


class Conv3d(_Convolution):
    """3-D convolution (eq. 3-4): volumes C x D x H x W in, out_channels x D' x H' x W' out."""

    kind: Literal["conv3d"] = "conv3d"

    @property
    def spatial_rank(self) -> int:
        return 3


class _Pooling(_SpatialLayer):
    kernel_size: SizeSetting = Field(description="Pooling window h: one int, or one per spatial axis.")
    stride: SizeSetting | None = Field(
        default=None, description="Step s between windows; defaults to the kernel size (non-overlapping)."
    )
    padding: PaddingSetting = Field(
        default=0, description="Padding on every side; at most half the kernel size."
    )

    def axis_values(self, field: str, rank: int) -> tuple[int, ...] | None:
        if field == "stride" and self.stride is None:
            return super().axis_values("kernel_size", rank)
        return super().axis_values(field, rank)


class MaxPool2d(_Pooling):
    """Max pooling over height and width (eq. 16, output size eq. 17)."""

    kind: Literal["maxpool2d"] = "maxpool2d"

    @property
    def spatial_rank(self) -> int:
        return 2


class AvgPool2d(_Pooling):
    """Average pooling over height and width (eq. 15, output size eq. 17)."""

    kind: Literal["avgpool2d"] = "avgpool2d"

    @property
    def spatial_rank(self) -> int:
        return 2


class MaxPool3d(_Pooling):
    """Max pooling over depth, height and width."""

    kind: Literal["maxpool3d"] = "maxpool3d"

    @property
    def spatial_rank(self) -> int:
        return 3


class AvgPool3d(_Pooling):
    """Average pooling over depth, height and width."""

    kind: Literal["avgpool3d"] = "avgpool3d"

    @property
    def spatial_rank(self) -> int:
        return 3


class BatchNorm(LayerBase):
    """Batch normalisation (eq. 35-37); 1-D, 2-D or 3-D follows from its input."""

    kind: Literal["batchnorm"] = "batchnorm"
    eps: float = Field(default=1e-5, gt=0, le=1, description="epsilon added to the variance (eq. 36).")
    momentum: float = Field(
        default=0.1, gt=0, le=1, description="Weight of each new batch in the running statistics used for prediction."
    )


class Dropout(LayerBase):
    """Dropout (eq. 18). ``p`` is PyTorch's drop probability; the lecture's keep probability is 1 - p."""

    kind: Literal["dropout"] = "dropout"
    p: float = Field(
        default=0.5,
        ge=0,
        lt=1,
        description="Probability of dropping a unit (PyTorch's p). The lecture's keep probability is 1 - p.",
    )

    @property
    def keep_probability(self) -> float:
        """The lecture's p: the Bernoulli parameter of the mask R (eq. 18)."""
        return 1.0 - self.p


class Flatten(LayerBase):
    """Flattens feature maps into one vector per sample, ready for a linear layer."""

    kind: Literal["flatten"] = "flatten"


class Linear(LayerBase):
    """Fully connected layer U = W H + b, with an optional nonlinearity."""

    kind: Literal["linear"] = "linear"
    out_features: int = Field(ge=1, le=1_000_000, description="Number of output units.")
    bias: bool = Field(default=True, description="Add a learned bias b.")
    activation: ActivationName = Field(default="relu", description="Nonlinearity applied to the output.")
    flatten_input: bool = Field(
        default=False,
        description="Flatten feature maps arriving here instead of refusing them (same as a Flatten before it).",
    )


class Activation(LayerBase):
    """A standalone nonlinearity H = sigma(Z)."""

    kind: Literal["activation"] = "activation"
    activation: ActivationName = Field(default="relu", description="Nonlinearity sigma.")


class Softmax(LayerBase):
    """F_softmax over the class (channel) axis. Training uses the logits before it."""

    kind: Literal["softmax"] = "softmax"


class _GlobalPooling(LayerBase):
    """Pools each channel over its whole map: C x 1 x 1 (or C x 1 x 1 x 1), PyTorch's adaptive pooling to 1."""


class GlobalAvgPool(_GlobalPooling):
    """Global average pooling: each channel's mean over its whole feature map (C x 1 x 1 out)."""

    kind: Literal["globalavgpool"] = "globalavgpool"


class GlobalMaxPool(_GlobalPooling):
    """Global max pooling: each channel's largest value over its whole feature map (C x 1 x 1 out)."""

    kind: Literal["globalmaxpool"] = "globalmaxpool"


class Residual(LayerBase):
    """A residual block (He et al. 2016): output = activation(body(x) + shortcut(x)).

    An empty ``shortcut`` is the identity; ``body`` and ``shortcut`` must produce
    the same shape for the sum to exist.
    """

    kind: Literal["residual"] = "residual"
    body: list["Layer"] = Field(default_factory=list, description="The layers on the main path, applied in order.")
    shortcut: list["Layer"] = Field(
        default_factory=list, description="The layers on the skip path; empty for the identity."
    )
    activation: ActivationName = Field(default="relu", description="Nonlinearity applied after the sum.")


class Concat(LayerBase):
    """Parallel branches whose outputs are joined along channels (Inception style).

    An empty branch passes its input through; every branch must keep the same
    height and width (and depth).
    """

    kind: Literal["concat"] = "concat"
    branches: list[list["Layer"]] = Field(
        default_factory=lambda: [[], []], min_length=1,
        description="The branches, each a stack of layers applied to the block's input.",
    )


BLOCK_KINDS = ("residual", "concat")
"""Kinds that hold stacks of layers of their own."""

Layer = Annotated[
    Union[
        Conv2d, Conv3d, MaxPool2d, AvgPool2d, MaxPool3d, AvgPool3d, GlobalAvgPool, GlobalMaxPool,
        BatchNorm, Dropout, Flatten, Linear, Activation, Softmax, Residual, Concat,
    ],
    Field(discriminator="kind"),
]

Residual.model_rebuild()
Concat.model_rebuild()

LAYER_CLASSES: dict[str, type[LayerBase]] = {
    cls.model_fields["kind"].default: cls
    for cls in (Conv2d, Conv3d, MaxPool2d, AvgPool2d, MaxPool3d, AvgPool3d, GlobalAvgPool, GlobalMaxPool,
                BatchNorm, Dropout, Flatten, Linear, Activation, Softmax, Residual, Concat)
}
"""Every layer kind by its ``kind`` tag, in palette order."""


def inner_stacks(layer: LayerBase) -> list[tuple[str, list[LayerBase]]]:
    """A block's own stacks as (part, layers): ``body``/``shortcut`` or ``branches.0``, ``branches.1``...

    Empty for a plain layer. The part names are the keys of paths such as ``5.body.2``.
    """
    if isinstance(layer, Residual):
        return [("body", layer.body), ("shortcut", layer.shortcut)]
    if isinstance(layer, Concat):
        return [(f"branches.{number}", branch) for number, branch in enumerate(layer.branches)]
    return []


def every_layer(layers: list[LayerBase]):
    """Every layer of a stack, the layers inside blocks included (a block before its contents)."""
    for layer in layers:
        yield layer
        for _part, stack in inner_stacks(layer):
            yield from every_layer(stack)


def layer_to_data(layer: LayerBase) -> dict:
    """A layer as design-file data: ``kind`` first, fields at their defaults left out, blocks nested."""
    data = {"kind": layer.kind, **layer.model_dump(mode="json", exclude_defaults=True)}
    if isinstance(layer, Residual):
        data["body"] = [layer_to_data(inner) for inner in layer.body]
        if layer.shortcut:
            data["shortcut"] = [layer_to_data(inner) for inner in layer.shortcut]
        else:
            data.pop("shortcut", None)
    elif isinstance(layer, Concat):
        data["branches"] = [[layer_to_data(inner) for inner in branch] for branch in layer.branches]
    return data
