"""Design -> torch.nn.Module, one readable named module per operation.

Reads like the design: ``conv1``, ``conv1_relu``, ``bn1``, ``maxpool1``,
``flatten1``, ``fc1``... The shape engine supplies every size, so the builder
never guesses; an impossible design is refused with the engine's message.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from contextlib import nullcontext

import torch
from torch import nn

from convstudio.core.design import Design
from convstudio.core.initialisation import InitScheme, initialise
from convstudio.core.layers import Activation, ActivationName, LayerBase
from convstudio.core.shape_records import LayerShape
from convstudio.core.shapes import infer_shapes


class DesignShapeError(ValueError):
    """The design has a layer whose shapes cannot work; the message says which and how to fix it."""


_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
}


def activation_module(name: ActivationName) -> nn.Module | None:
    """The nonlinearity called ``name``, or None for ``"none"``."""
    return None if name == "none" else _ACTIVATIONS[name]()


class DesignNet(nn.Sequential):
    """The built network: an ``nn.Sequential`` that also knows which modules came from which layer.

    ``layer_modules[i]`` lists the module names built for design layer ``i``
    (a convolution with an activation gives two: ``conv1`` and ``conv1_relu``).
    """

    def __init__(self, modules: "OrderedDict[str, nn.Module]", layer_modules: list[tuple[str, ...]]):
        super().__init__(modules)
        self.layer_modules = layer_modules
        self.ends_with_softmax = bool(modules) and isinstance(list(modules.values())[-1], nn.Softmax)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The output before a final softmax: what cross-entropy training needs (eq. 5's U)."""
        modules = list(self)
        if self.ends_with_softmax:
            modules = modules[:-1]
        for module in modules:
            x = module(x)
        return x


def _modules_for(layer: LayerBase, name: str, shape: LayerShape) -> list[tuple[str, nn.Module]]:
    """The named modules one design layer becomes."""
    kind = layer.kind
    in_shape = shape.input_shape
    if kind in ("conv2d", "conv3d"):
        conv_type = nn.Conv2d if kind == "conv2d" else nn.Conv3d
        rank = layer.spatial_rank
        modules = [(name, conv_type(
            in_shape[0], layer.out_channels, layer.axis_values("kernel_size", rank),
            stride=layer.axis_values("stride", rank), padding=layer.axis_values("padding", rank),
            bias=layer.bias,
        ))]
        act = activation_module(layer.activation)
        return modules + ([(f"{name}_{layer.activation}", act)] if act is not None else [])
    if kind in ("maxpool2d", "avgpool2d", "maxpool3d", "avgpool3d"):
        pool_type = {"maxpool2d": nn.MaxPool2d, "avgpool2d": nn.AvgPool2d,
                     "maxpool3d": nn.MaxPool3d, "avgpool3d": nn.AvgPool3d}[kind]
        rank = layer.spatial_rank
        return [(name, pool_type(layer.axis_values("kernel_size", rank), stride=layer.axis_values("stride", rank),
                                 padding=layer.axis_values("padding", rank)))]
    if kind == "batchnorm":
        norm_type = {1: nn.BatchNorm1d, 3: nn.BatchNorm2d, 4: nn.BatchNorm3d}[len(in_shape)]
        return [(name, norm_type(in_shape[0], eps=layer.eps, momentum=layer.momentum))]
    if kind == "dropout":
        return [(name, nn.Dropout(layer.p))]
    if kind == "flatten":
        return [(name, nn.Flatten())]
    if kind == "linear":
        modules: list[tuple[str, nn.Module]] = []
        if len(in_shape) > 1:  # flatten_input: the design asked for it
            modules.append((f"{name}_flatten", nn.Flatten()))
        modules.append((name, nn.Linear(math.prod(in_shape), layer.out_features, bias=layer.bias)))
        act = activation_module(layer.activation)
        return modules + ([(f"{name}_{layer.activation}", act)] if act is not None else [])
    if isinstance(layer, Activation):
        act = activation_module(layer.activation)
        return [(name, act if act is not None else nn.Identity())]
    if kind == "softmax":
        return [(name, nn.Softmax(dim=1))]
    raise AssertionError(f"no builder for layer kind {kind!r}")  # every kind is handled above


def build_model(design: Design, init: InitScheme = "pytorch_default", gain: float = 1.0,
                seed: int | None = None, device: torch.device | str | None = None) -> DesignNet:
    """Build ``design`` as a :class:`DesignNet`, initialised with ``init`` (``gain`` is eq. 27's C).

    With ``device="meta"`` no memory is allocated: shapes only. Raises
    DesignShapeError for a design the shape engine finds impossible.
    """
    report = infer_shapes(design)
    if not report.valid:
        raise DesignShapeError(f"the design cannot be built: {report.first_error()}")
    on_meta = device is not None and torch.device(device).type == "meta"
    # Seeded builds leave the caller's random state alone; unseeded ones draw from it as
    # torch.nn modules do, so that two unseeded builds differ.
    forked = torch.random.fork_rng(devices=[]) if seed is not None else nullcontext()
    with forked, (torch.device("meta") if on_meta else nullcontext()):
        if seed is not None:
            torch.manual_seed(seed)
        modules: OrderedDict[str, nn.Module] = OrderedDict()
        layer_modules: list[tuple[str, ...]] = []
        for layer, shape in zip(design.layers, report.layers):
            named = _modules_for(layer, shape.name, shape)
            layer_modules.append(tuple(module_name for module_name, _ in named))
            modules.update(named)
        model = DesignNet(modules, layer_modules)
    if on_meta:
        return model
    if init != "pytorch_default":
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        initialise(model, init, gain, generator)
    return model if device is None else model.to(device)
