"""Readable module names for a design's layers: conv1, bn1, maxpool1, fc1, ...

The builder names its modules this way, and the shape table, the exporter and
the GUI show the same names, so a state_dict key like ``conv3.weight`` can be
found in the design at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence

from convstudio.core.layers import LayerBase, inner_stacks

_PREFIX = {
    "conv2d": "conv",
    "conv3d": "conv",
    "maxpool2d": "maxpool",
    "maxpool3d": "maxpool",
    "avgpool2d": "avgpool",
    "avgpool3d": "avgpool",
    "batchnorm": "bn",
    "dropout": "dropout",
    "flatten": "flatten",
    "linear": "fc",
    "activation": "act",
    "softmax": "softmax",
    "globalavgpool": "gap",
    "globalmaxpool": "gmp",
    "residual": "res",
    "concat": "concat",
}


def layer_names(layers: Sequence[LayerBase]) -> list[str]:
    """One unique identifier per layer: its own ``name`` or the kind's prefix and a counter."""
    taken = {layer.name for layer in layers if layer.name is not None}
    counters: dict[str, int] = {}
    if not taken:  # no name given (most of a block's stacks): no generated name can clash
        names = []
        for layer in layers:
            prefix = _PREFIX[layer.kind]
            number = counters[prefix] = counters.get(prefix, 0) + 1
            names.append(f"{prefix}{number}")
        return names
    names = []
    for layer in layers:
        if layer.name is not None:
            names.append(layer.name)
            continue
        prefix = _PREFIX[layer.kind]
        while True:
            counters[prefix] = counters.get(prefix, 0) + 1
            candidate = f"{prefix}{counters[prefix]}"
            if candidate not in taken:
                break
        taken.add(candidate)
        names.append(candidate)
    return names


def qualified_layer_names(layers: Sequence[LayerBase], prefix: str = "") -> list[str]:
    """Every layer's name with the blocks around it, in design order (a block before its contents).

    ``["conv1", "res1", "res1.body.conv1", "res1.shortcut.conv1", "fc1"]``: the
    names the builder's modules have, so a checkpoint key ``res1.body.conv1.weight``
    belongs to layer ``res1.body.conv1``. Training settings name layers this way
    to freeze a whole block or one layer inside it.
    """
    names = []
    for layer, name in zip(layers, layer_names(layers)):
        names.append(prefix + name)
        for part, stack in inner_stacks(layer):
            names += qualified_layer_names(stack, f"{prefix}{name}.{part}.")
    return names
