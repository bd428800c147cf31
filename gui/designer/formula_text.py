"""The inspector's explanation of a size: the lecture's formula with the user's numbers.

Builds small rich-text snippets from the shape engine's records
(``AxisFormula.text``, ``equation``, ``special_case``, ``note``). No widgets here.
"""

from __future__ import annotations

import math
from html import escape

from convstudio.core.design import InputSpec
from convstudio.core.layers import LayerBase
from convstudio.core.receptive_field import LayerField
from convstudio.core.shape_records import LayerShape, format_shape

_GENERAL = {
    "14": "d<sup>ℓ</sup> = ⌊(d<sup>ℓ−1</sup> − k + 2P) / s⌋ + 1",
    "17": "d' = ⌊(d − h) / s⌋ + 1",
    "17p": "d' = ⌊(d − h + 2P) / s⌋ + 1 (PyTorch's padding added to eq. 17)",
}


def _line(text: str) -> str:
    return f"<div style='margin-top:3px'>{text}</div>"


def _code(text: str) -> str:
    return f"<code>{escape(text)}</code>"


def _product(values) -> str:
    return "·".join(str(value) for value in values)


def input_explanation(spec: InputSpec) -> str:
    """What the input is, in the lecture's notation."""
    if spec.depth is None:
        shape = f"{spec.height}×{spec.width}×{spec.channels}"
        text = f"X ∈ ℝ<sup>{shape}</sup>: d<sub>y</sub> × d<sub>x</sub> × C<sup>0</sup>"
    else:
        shape = f"{spec.depth}×{spec.height}×{spec.width}×{spec.channels}"
        text = f"X ∈ ℝ<sup>{shape}</sup>: a volume (eq. 3), d × d<sub>y</sub> × d<sub>x</sub> × C<sup>0</sup>"
    hint = "Set a depth for 3-D data (Conv3d, pooling 3-D); leave it at none for images."
    return _line(text) + _line(escape(hint))


def _spatial(layer: LayerBase, shape: LayerShape) -> list[str]:
    formulas = shape.formulas
    if not formulas:
        return []
    pooling = formulas[0].pooling
    padded = any(formula.padding for formula in formulas)
    general = _GENERAL["17p" if pooling and padded else formulas[0].equation]
    lines = []
    if layer.kind.endswith("3d"):
        lines.append(_line("3-D form (eq. 3–4): the filter slides over depth, height and width; "
                           "each axis follows " + ("eq. (17)" if pooling else "eq. (14)")))
    lines.append(_line(f"eq. ({formulas[0].equation}): {general}"))
    # Axes with the same numbers share a line: "H, W: floor((32 - 4 + 2*2) / 1) + 1 = 33".
    groups: dict[str, list[str]] = {}
    for formula in formulas:
        groups.setdefault(formula.text, []).append(formula.axis[0].upper())
    for text, axes in groups.items():
        lines.append(_line(f"<b>{', '.join(axes)}: {escape(text)}</b>"))
    seen = set()
    for formula in formulas:
        for extra in (formula.special_case, formula.note):
            if extra and extra not in seen:
                seen.add(extra)
                lines.append(_line(escape(extra)))
    return lines


def _counts(layer: LayerBase, shape: LayerShape) -> list[str]:
    kind = layer.kind
    lines = []
    known_in = shape.input_shape is not None and None not in shape.input_shape
    if kind in ("conv2d", "conv3d") and known_in and shape.params is not None:
        rank = layer.spatial_rank
        kernel = layer.axis_values("kernel_size", rank)
        weights = _product((layer.out_channels, shape.input_shape[0], *kernel))
        bias = f" + {layer.out_channels}" if layer.bias else ""
        lines.append(_line(f"parameters: C<sup>ℓ</sup>·C<sup>ℓ−1</sup>·k = {weights}{bias} = {shape.params:,}"))
    elif kind == "linear" and known_in and shape.params is not None:
        features = math.prod(shape.input_shape)
        bias = f" + {layer.out_features}" if layer.bias else ""
        lines.append(_line(f"U = W H + b: W is {layer.out_features}×{features}; "
                           f"parameters {layer.out_features}·{features}{bias} = {shape.params:,}"))
    elif kind == "flatten" and known_in:
        lines.append(_line(f"{_product(shape.input_shape)} = {math.prod(shape.input_shape):,} values per sample"))
    elif kind == "batchnorm" and shape.params is not None:
        lines.append(_line(f"BN(Z) = γ ⊙ Ẑ + β (eq. 36–37): γ and β per channel, "
                           f"2·{shape.params // 2} = {shape.params} parameters"))
    elif kind == "dropout":
        lines.append(_line(f"H = R ⊙ σ(Z) (eq. 18): R ~ Bernoulli(1 − p = {layer.keep_probability:g}), "
                           f"the lecture's keep probability; PyTorch's p = {layer.p:g} is the drop probability"))
    elif kind in ("activation", "softmax"):
        lines.append(_line("applied to every value; the shape is unchanged"))
    if shape.macs:
        lines.append(_line(f"multiply-accumulates per sample: {shape.macs:,}"))
    return lines


def receptive_field_explanation(field: LayerField | None) -> str:
    """The layer's receptive field by the recurrence, with the user's numbers (empty when unknown)."""
    if field is None:
        return ""
    size = "×".join(map(str, field.sizes))
    whole = " — one unit sees the whole input" if field.covers_input else ""
    lines = [_line(f"<b>receptive field {size}</b>{whole}")]
    if field.windowed:
        lines.append(_line("r<sub>ℓ</sub> = r<sub>ℓ−1</sub> + (k − 1)·j<sub>ℓ−1</sub>, "
                           "j<sub>ℓ</sub> = j<sub>ℓ−1</sub>·s, start<sub>ℓ</sub> = start<sub>ℓ−1</sub> − P·j<sub>ℓ−1</sub>"))
    for axes, step in field.steps():
        lines.append(_line(f"{axes}: {escape(step)}"))
    return "".join(lines)


def layer_explanation(layer: LayerBase, shape: LayerShape) -> str:
    """Output size, the formula with the user's numbers, special cases, notes and counts."""
    size = escape(format_shape(shape.output_shape))
    header = f"<b>{escape(format_shape(shape.input_shape))} → {size}</b>"
    return _line(header) + "".join(_spatial(layer, shape)) + "".join(_counts(layer, shape))


def block_explanation(layer: LayerBase, shape: LayerShape) -> str:
    """A block's merge with both sides' shapes, what follows it, and its totals."""
    lines = []
    if shape.merge_text:
        lines.append(_line(f"<b>{escape(shape.merge_text)}</b>"))
    if layer.kind == "residual":
        after = f"{layer.activation}(body(x) + shortcut(x))" if layer.activation != "none" else "body(x) + shortcut(x)"
        lines.append(_line(f"output = {escape(after)} = {escape(format_shape(shape.output_shape))}"))
        if not layer.shortcut:
            lines.append(_line("the shortcut is the identity: x itself is added"))
    else:
        count = len(layer.branches)
        lines.append(_line(f"{count} branch{'es' if count != 1 else ''} joined along channels: "
                           f"{escape(format_shape(shape.output_shape))}"))
    if shape.params is not None:
        lines.append(_line(f"parameters inside the block: {shape.params:,}"))
    return "".join(lines)
