"""Short texts about layers for the palette, the stack and the diagram.

Plain functions over core objects; no widgets.
"""

from __future__ import annotations

from convstudio.core.design import InputSpec
from convstudio.core.layers import LAYER_CLASSES, LayerBase

# The lecture's grouping of layer kinds, in palette order.
PALETTE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Convolution", ("conv2d", "conv3d")),
    ("Pooling", ("maxpool2d", "avgpool2d", "maxpool3d", "avgpool3d", "globalavgpool", "globalmaxpool")),
    ("Normalisation and regularisation", ("batchnorm", "dropout")),
    ("Fully connected", ("flatten", "linear")),
    ("Activations", ("activation", "softmax")),
    ("Blocks", ("residual", "concat")),
)

KIND_TITLES = {
    "conv2d": "Conv2d",
    "conv3d": "Conv3d",
    "maxpool2d": "MaxPool2d",
    "avgpool2d": "AvgPool2d",
    "maxpool3d": "MaxPool3d",
    "avgpool3d": "AvgPool3d",
    "batchnorm": "BatchNorm",
    "dropout": "Dropout",
    "flatten": "Flatten",
    "linear": "Linear",
    "activation": "Activation",
    "softmax": "Softmax",
    "globalavgpool": "GlobalAvgPool",
    "globalmaxpool": "GlobalMaxPool",
    "residual": "Residual",
    "concat": "Concat",
}
# The palette names blocks by what they are for.
PALETTE_TITLES = {"residual": "Residual block", "concat": "Concat (branches)"}


def kind_title(kind: str) -> str:
    """``Conv2d`` for ``conv2d``."""
    return KIND_TITLES.get(kind, kind)


def palette_title(kind: str) -> str:
    """The palette's name for ``kind``: ``Residual block`` for ``residual``, else :func:`kind_title`."""
    return PALETTE_TITLES.get(kind, kind_title(kind))


def kind_summary(kind: str) -> str:
    """The first line of the layer class's docstring: what the kind does."""
    doc = (LAYER_CLASSES[kind].__doc__ or "").replace("``", "").strip()
    return doc.splitlines()[0] if doc else kind_title(kind)


def _axes(value) -> str:
    if value is None:
        return "="
    if isinstance(value, int):
        return str(value)
    return "x".join(str(v) for v in value)


def layer_settings(layer: LayerBase) -> str:
    """The settings that decide a layer's size, e.g. ``64 ch, k4 s1 p2, relu``."""
    kind = layer.kind
    if kind in ("conv2d", "conv3d"):
        window = f"k{_axes(layer.kernel_size)} s{_axes(layer.stride)} p{_axes(layer.padding)}"
        parts = [f"{layer.out_channels} ch", window]
        if layer.activation != "none":
            parts.append(layer.activation)
        if not layer.bias:
            parts.append("no bias")
        return ", ".join(parts)
    if kind.endswith("pool2d") or kind.endswith("pool3d"):
        stride = _axes(layer.kernel_size) if layer.stride is None else _axes(layer.stride)
        text = f"k{_axes(layer.kernel_size)} s{stride}"
        return text + (f" p{_axes(layer.padding)}" if layer.padding else "")
    if kind == "linear":
        parts = [f"{layer.out_features} units"]
        if layer.activation != "none":
            parts.append(layer.activation)
        if layer.flatten_input:
            parts.append("flattens input")
        return ", ".join(parts)
    if kind == "dropout":
        return f"p {layer.p:g} (keep {layer.keep_probability:g})"
    if kind == "batchnorm":
        defaults = type(layer).model_fields
        changed = [f"{name} {getattr(layer, name):g}" for name in ("eps", "momentum")
                   if getattr(layer, name) != defaults[name].default]
        return ", ".join(changed)
    if kind == "activation":
        return layer.activation
    if kind == "residual":
        shortcut = f"{len(layer.shortcut)}-layer shortcut" if layer.shortcut else "identity shortcut"
        size = f"{len(layer.body)} layer{'s' if len(layer.body) != 1 else ''}"
        after = f", then {layer.activation}" if layer.activation != "none" else ""
        return f"{size} + {shortcut}{after}"
    if kind == "concat":
        return f"{len(layer.branches)} branch{'es' if len(layer.branches) != 1 else ''} joined along channels"
    if kind in ("globalavgpool", "globalmaxpool"):
        return "whole map to 1x1"
    return ""


def input_settings(spec: InputSpec) -> str:
    """``3 channels, 32x32`` (with the depth for volumes)."""
    size = f"{spec.height}x{spec.width}" if spec.depth is None else f"{spec.depth}x{spec.height}x{spec.width}"
    return f"{spec.channels} channel{'s' if spec.channels != 1 else ''}, {size}"


def human_count(count: int) -> str:
    """1234567 as ``1.23 M``."""
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if count >= limit:
            return f"{count / limit:.3g} {suffix}"
    return str(count)


def human_bytes(count: int) -> str:
    """Bytes as ``1.5 MiB``."""
    for limit, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if count >= limit:
            return f"{count / limit:.3g} {suffix}"
    return f"{count} B"
