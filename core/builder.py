"""Design -> torch.nn.Module, one readable named module per operation.

Reads like the design: ``conv1``, ``conv1_relu``, ``bn1``, ``maxpool1``,
``flatten1``, ``fc1``... The shape engine supplies every size, so the builder
never guesses; an impossible design is refused with the engine's message.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from convstudio.core.design import Design
from convstudio.core.initialisation import InitScheme, initialise
from convstudio.core.block_modules import ConcatBlock, ResidualBlock
from convstudio.core.layers import Activation, ActivationName, Concat, LayerBase, Residual, inner_stacks
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


@dataclass(frozen=True)
class LayerUnit:
    """One design layer of a built model, at any depth: its name and the modules it became.

    ``name`` is the layer's qualified name (``conv1``, ``res1``, ``res1.body.conv1``),
    ``modules`` the dotted names of its modules in the model (``res1.body.conv1``,
    ``res1.body.conv1_relu``; a block's is its own module, ``res1``), ``blocks``
    the qualified names of the blocks around it, outermost first.
    """

    name: str
    kind: str
    modules: tuple[str, ...]
    blocks: tuple[str, ...] = ()

    @property
    def is_block(self) -> bool:
        """True for a residual or concat block (its inner layers are units of their own)."""
        return self.kind in ("residual", "concat")


class DesignNet(nn.Sequential):
    """The built network: an ``nn.Sequential`` that also knows which modules came from which layer.

    ``layer_modules[i]`` lists the top-level module names built for design layer ``i``
    (a convolution with an activation gives two: ``conv1`` and ``conv1_relu``; a
    block one: ``res1``). ``units`` lists every design layer, blocks and the layers
    inside them, in design order (a block before its contents): see :class:`LayerUnit`.
    """

    def __init__(self, modules: "OrderedDict[str, nn.Module]", layer_modules: list[tuple[str, ...]],
                 units: list[LayerUnit] | None = None):
        super().__init__(modules)
        self.layer_modules = layer_modules
        self.units = units if units is not None else []
        self.ends_with_softmax = bool(modules) and isinstance(list(modules.values())[-1], nn.Softmax)

    def leaf_units(self) -> list[LayerUnit]:
        """The units that are not blocks: the layers that own parameters directly."""
        return [unit for unit in self.units if not unit.is_block]

    def unit_modules(self, unit: LayerUnit) -> list[nn.Module]:
        """The modules ``unit`` became."""
        return [self.get_submodule(name) for name in unit.modules]

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
    if kind in ("globalavgpool", "globalmaxpool"):
        pool_type = {("globalavgpool", 3): nn.AdaptiveAvgPool2d, ("globalavgpool", 4): nn.AdaptiveAvgPool3d,
                     ("globalmaxpool", 3): nn.AdaptiveMaxPool2d, ("globalmaxpool", 4): nn.AdaptiveMaxPool3d}
        return [(name, pool_type[kind, len(in_shape)](1))]
    raise AssertionError(f"no builder for layer kind {kind!r}")  # every kind is handled above


def _stack_modules(layers: list[LayerBase], shapes: tuple[LayerShape, ...], prefix: str, blocks: tuple[str, ...],
                   units: list[LayerUnit]) -> tuple[list[tuple[str, nn.Module]], list[tuple[str, ...]]]:
    """The named modules of one stack, and each layer's module names; ``units`` collects every layer.

    ``prefix`` is the stack's dotted place in the model (``""`` for the design, ``res1.body.``).
    """
    named_all: list[tuple[str, nn.Module]] = []
    per_layer: list[tuple[str, ...]] = []
    for layer, shape in zip(layers, shapes):
        if isinstance(layer, (Residual, Concat)):
            named = [(shape.name, _block_module(layer, shape, f"{prefix}{shape.name}", blocks, units))]
        else:
            named = _modules_for(layer, shape.name, shape)
            units.append(LayerUnit(prefix + shape.name, layer.kind,
                                   tuple(prefix + module_name for module_name, _ in named), blocks))
        per_layer.append(tuple(module_name for module_name, _ in named))
        named_all.extend(named)
    return named_all, per_layer


def _block_module(layer: LayerBase, shape: LayerShape, qualified: str, blocks: tuple[str, ...],
                  units: list[LayerUnit]) -> nn.Module:
    """A residual or concat block as one module with an ``nn.Sequential`` per stack."""
    units.append(LayerUnit(qualified, layer.kind, (qualified,), blocks))
    inner_blocks = blocks + (qualified,)
    sequentials = []
    for stack in shape.stacks:
        inner_layers = dict(inner_stacks(layer))[stack.part]
        named, _ = _stack_modules(inner_layers, stack.layers, f"{qualified}.{stack.part}.", inner_blocks, units)
        sequentials.append(nn.Sequential(OrderedDict(named)))
    if isinstance(layer, Residual):
        return ResidualBlock(sequentials[0], sequentials[1], activation_module(layer.activation))
    return ConcatBlock(sequentials)


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
        units: list[LayerUnit] = []
        named, layer_modules = _stack_modules(design.layers, report.layers, "", (), units)
        model = DesignNet(OrderedDict(named), layer_modules, units)
    if on_meta:
        return model
    if init != "pytorch_default":
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        initialise(model, init, gain, generator)
    return model if device is None else model.to(device)
