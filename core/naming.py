"""Readable module names for a design's layers: conv1, bn1, maxpool1, fc1, ...

The builder names its modules this way, and the shape table, the exporter and
the GUI show the same names, so a state_dict key like ``conv3.weight`` can be
found in the design at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence

from convstudio.core.layers import LayerBase

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
}


def layer_names(layers: Sequence[LayerBase]) -> list[str]:
    """One unique identifier per layer: its own ``name`` or the kind's prefix and a counter."""
    taken = {layer.name for layer in layers if layer.name is not None}
    counters: dict[str, int] = {}
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
