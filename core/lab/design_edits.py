"""Variants of a design for the lab: without batch normalisation, without or with dropout.

Every function returns a new, validated :class:`~core.design.Design`; the
original is never changed. Layers keep their own names; unnamed layers are
renumbered by the builder as usual. The edits reach into blocks: a residual
body's batch normalisation is removed like any other.
"""

from __future__ import annotations

from collections.abc import Callable

from convstudio.core.design import Design
from convstudio.core.layers import BatchNorm, Concat, Dropout, LayerBase, Residual, every_layer


def _with_layers(design: Design, layers: list[LayerBase]) -> Design:
    data = design.model_dump(mode="python")
    data["layers"] = [layer.model_dump(mode="python") for layer in layers]
    return Design.model_validate(data)


def _map_stacks(layer: LayerBase, change: Callable[[list[LayerBase], bool], list[LayerBase]]) -> LayerBase:
    """``layer`` with ``change`` applied to each of its stacks (a plain layer as it is)."""
    if isinstance(layer, Residual):
        return layer.model_copy(update={"body": change(layer.body, False), "shortcut": change(layer.shortcut, False)})
    if isinstance(layer, Concat):
        return layer.model_copy(update={"branches": [change(branch, False) for branch in layer.branches]})
    return layer


def renamed(design: Design, suffix: str) -> Design:
    """``design`` with ``suffix`` added to its name, e.g. "LeNet-5 (baseline)"."""
    return design.model_copy(update={"name": f"{design.name} {suffix}"})


def without_kinds(design: Design, kinds: set[str]) -> Design:
    """``design`` with every layer of the given kinds removed."""
    def kept(layers: list[LayerBase], _top: bool) -> list[LayerBase]:
        return [_map_stacks(layer, kept) for layer in layers if layer.kind not in kinds]

    return _with_layers(design, kept(design.layers, True))


def without_batch_norm(design: Design) -> Design:
    """``design`` with its batch-normalisation layers removed (eq. 32 back to H = sigma(Z))."""
    return without_kinds(design, {"batchnorm"})


def _insert(design: Design, where: Callable[[int, LayerBase, bool], bool], make: Callable[[], LayerBase],
            after: bool) -> Design:
    """``make()`` before (or after) every layer ``where(index, layer, top_level)`` picks, inside blocks too."""
    def changed(stack: list[LayerBase], top: bool) -> list[LayerBase]:
        layers: list[LayerBase] = []
        for index, layer in enumerate(stack):
            if not after and where(index, layer, top):
                layers.append(make())
            layers.append(_map_stacks(layer, changed))
            if after and where(index, layer, top):
                layers.append(make())
        return layers

    return _with_layers(design, changed(design.layers, True))


def _last_linear(design: Design) -> int:
    indices = [i for i, layer in enumerate(design.layers) if layer.kind == "linear"]
    return indices[-1] if indices else -1


def with_dropout(design: Design, p: float = 0.5) -> Design:
    """``design`` itself if it has dropout; otherwise dropout (eq. 18) before every fully connected layer.

    Dropping inputs of the fully connected layers is the placement of Hinton
    et al.'s original experiments; convolutions keep all their inputs.
    """
    if any(layer.kind == "dropout" for layer in every_layer(design.layers)):
        return design
    return _insert(design, lambda _, layer, _top: layer.kind == "linear", lambda: Dropout(p=p), after=False)


def with_batch_norm(design: Design) -> Design:
    """``design`` itself if it has batch normalisation; otherwise one after every convolution and
    hidden fully connected layer (eq. 32: after the layer's activation, as the presets place it)."""
    if any(layer.kind == "batchnorm" for layer in every_layer(design.layers)):
        return design
    last = _last_linear(design)
    return _insert(design, lambda i, layer, top: layer.kind in ("conv2d", "conv3d")
                   or (layer.kind == "linear" and not (top and i == last)), BatchNorm, after=True)
