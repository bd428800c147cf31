"""Every convolution, pooling and activation layer's output on one image, by forward hooks.

:func:`record_activations` runs the network once with a hook on each such
module and keeps its output, with the design layer it belongs to (its name,
shape and receptive field) and summary statistics: mean, spread, the fraction
of exact zeros (the units a ReLU switched off on this image) and a histogram.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from convstudio.core.builder import DesignNet
from convstudio.core.design import Design
from convstudio.core.layers import LayerBase, inner_stacks
from convstudio.core.naming import layer_names
from convstudio.core.receptive_field import LayerField, receptive_fields_by_path
from convstudio.core.shape_records import format_shape

HISTOGRAM_BINS = 30
TOP_K = 5

_CONVOLUTIONS = (nn.Conv2d,)
_POOLINGS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_ACTIVATIONS = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.ELU, nn.GELU)


def module_role(module: nn.Module) -> str | None:
    """``"conv"``, ``"pool"`` or ``"activation"`` for a module whose output is inspected, else None."""
    if isinstance(module, _CONVOLUTIONS):
        return "conv"
    if isinstance(module, _POOLINGS):
        return "pool"
    if isinstance(module, _ACTIVATIONS):
        return "activation"
    return None


@dataclass(frozen=True, eq=False)
class LayerActivation:
    """One inspected module's output on one image, with what the design says about its layer."""

    name: str  # the module's name: conv1, conv1_relu, maxpool1, res1 (a block's output), res1.body.conv1 ...
    role: str  # "conv", "pool", "activation" or "block"
    unit: str | None  # the design layer it was built for, by qualified name: conv1, res1.body.conv1
    path: str | None  # that layer's path: "0", "1.body.0" (see core.receptive_field)
    output: torch.Tensor  # (C, H, W) for feature maps, (features,) after flattening; detached, float32
    field: LayerField | None  # the receptive field of its layer's units

    @property
    def layer_index(self) -> int | None:
        """The design's own layer (0-based) it belongs to; None inside a block."""
        return int(self.path) if self.path is not None and self.path.isdigit() else None

    @property
    def is_map(self) -> bool:
        """True for feature maps (C, H, W)."""
        return self.output.dim() == 3

    @property
    def shape_text(self) -> str:
        """``64x16x16``."""
        return format_shape(tuple(self.output.shape))

    @property
    def title(self) -> str:
        """``conv2 (64x16x16, receptive field 7x7)``: shape and field as the lecture writes them."""
        field = f", receptive field {'x'.join(map(str, self.field.sizes))}" if self.field is not None else ""
        return f"{self.name} ({self.shape_text}{field})"

    def statistics(self, bins: int = HISTOGRAM_BINS) -> dict:
        """Mean, standard deviation, minimum, maximum, fraction of zeros and a histogram (plain numbers)."""
        values = self.output.double().flatten()
        low, high = float(values.min()), float(values.max())
        if high <= low:
            high = low + 1.0  # one value everywhere: one bin holds it
        counts = torch.histc(values, bins=bins, min=low, max=high)
        edges = torch.linspace(low, high, bins + 1, dtype=torch.float64)
        return {
            "mean": float(values.mean()),
            "std": float(values.std(unbiased=False)),
            "min": float(values.min()),
            "max": float(values.max()),
            "zero_fraction": float((values == 0).double().mean()),
            "histogram": {"counts": [int(count) for count in counts.tolist()], "edges": edges.tolist()},
        }


@dataclass(frozen=True, eq=False)
class ForwardRecord:
    """One forward pass: the class probabilities and every inspected module's output."""

    probabilities: torch.Tensor  # (classes,)
    layers: tuple[LayerActivation, ...]

    def top(self, k: int = TOP_K) -> list[tuple[int, float]]:
        """The ``k`` most probable classes as (class index, probability), most probable first."""
        values, indices = torch.topk(self.probabilities, min(k, self.probabilities.numel()))
        return [(int(index), float(value)) for index, value in zip(indices, values)]

    def layer(self, name: str) -> LayerActivation:
        """The recorded output of module ``name``; KeyError when it was not recorded."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)


def layer_paths(layers: list[LayerBase], prefix: str = "", path: str = "") -> dict[str, str]:
    """Each layer's qualified name (``res1.body.conv1``) -> its path (``"1.body.0"``), blocks included."""
    paths: dict[str, str] = {}
    for index, (layer, name) in enumerate(zip(layers, layer_names(layers))):
        qualified, here = prefix + name, f"{path}.{index}" if path else str(index)
        paths[qualified] = here
        for part, inner in inner_stacks(layer):
            paths.update(layer_paths(inner, f"{qualified}.{part}.", f"{here}.{part}"))
    return paths


def module_owners(model: DesignNet, design: Design) -> dict[str, tuple[str, str | None, bool]]:
    """Each module the builder made for a design layer -> (layer's qualified name, its path, is a block)."""
    paths = layer_paths(list(design.layers))
    units = getattr(model, "units", None)
    if units:
        return {module: (unit.name, paths.get(unit.name), unit.is_block) for unit in units for module in unit.modules}
    names = layer_names(design.layers)
    return {module: (names[index], str(index), False)
            for index, modules in enumerate(model.layer_modules) for module in modules}


def layer_of_module(model: DesignNet, design: Design) -> dict[str, int]:
    """Each module name -> the design's own layer (0-based) it belongs to (inside a block: the block)."""
    return {module: int(path.split(".")[0]) for module, (_, path, _) in module_owners(model, design).items()
            if path is not None}


def inspected_modules(model: DesignNet, design: Design) -> list[tuple[str, nn.Module, str]]:
    """(name, module, role) of every convolution, pooling and activation module and every block, in forward order.

    A block's output is its own module's (a residual block's activation after the sum is part of it).
    """
    owners = module_owners(model, design)
    found = []
    for name, module in model.named_modules():
        role = module_role(module)
        if name in owners and owners[name][2]:
            role = "block"
        elif name not in owners:
            role = None  # inside a block's own machinery: its output is the block's
        if name and role is not None:
            found.append((name, module, role))
    return found


def record_activations(model: DesignNet, design: Design, batch: torch.Tensor) -> ForwardRecord:
    """Run ``batch`` (one normalised image, (1, C, H, W)) through ``model`` and keep every inspected output."""
    owners = module_owners(model, design)
    fields = receptive_fields_by_path(design)
    outputs: list[tuple[str, str, torch.Tensor]] = []
    handles = []
    for name, module, role in inspected_modules(model, design):
        def keep(_module, _inputs, output, name=name, role=role):
            outputs.append((name, role, output.detach()[0].float()))
        handles.append(module.register_forward_hook(keep))
    try:
        with torch.no_grad():
            logits = model.logits(batch)
    finally:
        for handle in handles:
            handle.remove()
    layers = []
    for name, role, output in outputs:
        unit, path, _ = owners.get(name, (None, None, False))
        layers.append(LayerActivation(name, role, unit, path, output, fields.get(path) if path is not None else None))
    return ForwardRecord(torch.softmax(logits[0].float(), dim=0), tuple(layers))
