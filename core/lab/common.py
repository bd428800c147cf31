"""Small pieces the lab experiments share: progress reporting, cancelling, layer names."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from convstudio.core.design import Design
from convstudio.core.naming import layer_names

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called as an experiment advances (the GUI draws a bar)."""

ShouldStop = Callable[[], bool]
"""``should_stop()``: polled between steps; True ends the experiment with :class:`LabCancelled`."""


class LabCancelled(Exception):
    """The experiment was cancelled through its ``should_stop`` callback."""


def advance(done: int, total: int, progress: Progress | None, should_stop: ShouldStop | None) -> None:
    """Report progress and honour a cancel request between two steps of an experiment."""
    if should_stop is not None and should_stop():
        raise LabCancelled(f"cancelled after {done} of {total} steps")
    if progress is not None:
        progress(done, total)


def module_owners(design: Design, model: nn.Module) -> dict[str, tuple[str, str]]:
    """Module name (dotted for modules inside blocks) -> (design layer name, layer kind).

    Uses the built model's ``units`` (every layer, blocks and the layers inside
    them: ``res1.body.conv1`` belongs to layer ``res1.body.conv1``; a block's own
    modules, such as the activation after its sum, to the block), or its
    ``layer_modules`` for a model without them. Modules that no design layer
    built (for example one a test inserted) stand for themselves, with their
    class name as kind.
    """
    owners: dict[str, tuple[str, str]] = {}
    units = getattr(model, "units", None)
    if units:
        for unit in units:
            for module_name in unit.modules:
                owners[module_name] = (unit.name, unit.kind)
        for module_name, _ in model.named_modules():
            if module_name and module_name not in owners and "." in module_name:
                owner = owner_of(owners, module_name)
                if owner is not None:
                    owners[module_name] = owner
    else:
        built = getattr(model, "layer_modules", None) or []
        for layer, name, modules in zip(design.layers, layer_names(design.layers), built):
            for module_name in modules:
                owners[module_name] = (name, layer.kind)
    for module_name, module in model.named_children():
        owners.setdefault(module_name, (module_name, type(module).__name__))
    return owners


def owner_of(owners: dict[str, tuple[str, str]], dotted: str) -> tuple[str, str] | None:
    """The owner of a dotted module or parameter name: its own entry, or its nearest listed parent's."""
    name = dotted
    while name:
        if name in owners:
            return owners[name]
        name = name.rpartition(".")[0]
    return None


def data_generator(seed: int) -> torch.Generator:
    """The generator for an experiment's random batch, labels and masks.

    ``build_model(seed=s)`` draws the weights from a generator seeded with ``s``;
    drawing the inputs from that same stream would make the first layer's
    weights equal to (or functions of) the inputs, and Z = W X far from the
    lecture's independent sum (eq. 28). The data therefore get their own stream.
    """
    return torch.Generator().manual_seed(seed + 1_000_003)
