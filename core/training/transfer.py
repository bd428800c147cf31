"""Transfer learning: start from another run's weights, freeze layers, fine-tune.

The lecture: train on a large dataset A, then fine-tune on a smaller dataset B.
Weights load into every layer whose tensors match in name and shape; the rest
(typically a new output layer for B's classes) keep their fresh initialisation,
and the report says which layers loaded, which were skipped, and why.

Frozen layers get ``requires_grad = False``: no gradient, so torch.optim skips
them entirely (no update, no weight decay, so no L2 penalty), and their batch
normalisation stays in evaluation mode so its running statistics stay put too:
a frozen layer is bit-identical after training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from convstudio.core.builder import DesignNet
from convstudio.core.state_dicts import load_fitting, match_tensors, shape_text
from convstudio.core.training.run_folder import RunFolder, RunFolderError, load_checkpoint


class TransferError(Exception):
    """Weights that cannot be used to start a run, with a message saying why."""


@dataclass(frozen=True)
class LayerTransfer:
    """What happened to one design layer's tensors."""

    layer: str
    loaded: bool
    reason: str  # "loaded", or why not: "shape 10x500 in the checkpoint, 5x500 here", "not in the checkpoint"


@dataclass(frozen=True)
class TransferReport:
    """Which layers took weights from the source, and which did not."""

    source: str
    layers: tuple[LayerTransfer, ...]

    @property
    def loaded_layers(self) -> list[str]:
        return [item.layer for item in self.layers if item.loaded]

    @property
    def skipped_layers(self) -> list[LayerTransfer]:
        return [item for item in self.layers if not item.loaded]

    def summary(self) -> str:
        """One line per layer, for the CLI and the GUI."""
        lines = [f"weights from {self.source}:"]
        lines += [f"  {item.layer}: {'loaded' if item.loaded else 'skipped, ' + item.reason}" for item in self.layers]
        return "\n".join(lines)


def read_source_weights(source: str | Path, which: str = "best") -> dict[str, torch.Tensor]:
    """A state dict from a run folder (its best or last weights) or a checkpoint/state-dict file."""
    path = Path(source)
    if not path.exists():
        raise TransferError(f"{path}: no such run folder or weights file")
    try:
        # "best" falls back to checkpoint.pt for a run without best.pt: its weights are still trained ones
        file = RunFolder(path).weights_path(None if which == "best" else "last") if path.is_dir() else path
        state = load_checkpoint(file)
    except RunFolderError as error:
        raise TransferError(str(error)) from None
    weights = state.get("model", state) if isinstance(state, dict) else None
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise TransferError(f"{file}: holds no state dict of tensors")
    return weights


@torch.no_grad()
def load_matching_weights(model: DesignNet, layer_names: list[str], weights: dict[str, torch.Tensor],
                          source: str) -> TransferReport:
    """Copy every tensor of ``weights`` whose name and shape match into ``model``, layer by layer.

    A design layer loads only if all its tensors match, so a layer is never half-transferred.
    Layers inside blocks count on their own (``res1.body.conv1``).
    """
    own = model.state_dict()
    match = match_tensors(own, weights)
    mismatched = {item.key: item for item in match.mismatched}
    results, chosen = [], {}
    for layer_name, module_names in _layer_units(model, layer_names):
        keys = [key for key in own if key.rpartition(".")[0] in module_names]
        if not keys:
            continue
        missing = next((key for key in keys if key in match.missing), None)
        if missing is not None:
            results.append(LayerTransfer(layer_name, False, f"not in the source ({missing} missing)"))
            continue
        key = next((key for key in keys if key in mismatched), None)
        if key is not None:
            reason = (f"{key} is {shape_text(weights[key])} in the source but {shape_text(own[key])} here"
                      if weights[key].shape != own[key].shape else str(mismatched[key]))
            results.append(LayerTransfer(layer_name, False, reason))
            continue
        chosen.update((key, match.fitting[key]) for key in keys)
        results.append(LayerTransfer(layer_name, True, "loaded"))
    report = TransferReport(source, tuple(results))
    if not report.loaded_layers:
        raise TransferError(f"{source}: no layer matches this design by name and shape; "
                            "is it a run of a related design?")
    load_fitting(model, chosen)
    return report


def _layer_units(model: DesignNet, layer_names: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """(layer name, its dotted module names) for every layer that is not a block."""
    units = getattr(model, "units", None)
    if units:
        return [(unit.name, unit.modules) for unit in units if not unit.is_block]
    return list(zip(layer_names, model.layer_modules))


def _frozen_units(model: DesignNet, layer_names: list[str], frozen: set[str]):
    """(module, frozen?) for every module a design layer made; a frozen block freezes all inside it."""
    units = getattr(model, "units", None)
    if units:
        for unit in units:
            if not unit.is_block:
                is_frozen = unit.name in frozen or any(block in frozen for block in unit.blocks)
                for module_name in unit.modules:
                    yield model.get_submodule(module_name), is_frozen
        return
    for layer_name, module_names in zip(layer_names, model.layer_modules):
        for module_name in module_names:
            yield getattr(model, module_name), layer_name in frozen


def frozen_layer_set(layer_names: list[str], freeze: list[str], freeze_through: str | None) -> set[str]:
    """The layers to freeze: those named, plus every layer up to and including ``freeze_through``.

    ``layer_names`` are :func:`core.naming.qualified_layer_names`: a block (``res1``)
    freezes everything inside it, ``res1.body.conv1`` one layer inside it.
    """
    unknown = [name for name in [*freeze, *([freeze_through] if freeze_through else [])] if name not in layer_names]
    if unknown:
        raise TransferError(f"cannot freeze {unknown[0]!r}: the design's layers are {', '.join(layer_names)}")
    frozen = set(freeze)
    if freeze_through:
        frozen.update(layer_names[: layer_names.index(freeze_through) + 1])
    return frozen


def set_frozen(model: DesignNet, layer_names: list[str], frozen: set[str]) -> None:
    """requires_grad off for the frozen layers' parameters, on for the others."""
    for module, is_frozen in _frozen_units(model, layer_names, frozen):
        for parameter in module.parameters():
            parameter.requires_grad_(not is_frozen)


def hold_frozen_statistics(model: DesignNet, layer_names: list[str], frozen: set[str]) -> None:
    """After ``model.train()``: keep frozen layers' batch normalisation in evaluation mode."""
    for module, is_frozen in _frozen_units(model, layer_names, frozen):
        if is_frozen and isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def class_subset(data, classes: list[int], per_class: int, seed: int = 0):
    """Dataset B for fine-tuning: ``per_class`` training images of each class in ``classes``, relabelled 0..K-1.

    Validation and test splits keep all their images of those classes.
    """
    from dataclasses import replace

    generator = torch.Generator().manual_seed(seed)
    mapping = torch.full((data.num_classes,), -1, dtype=torch.long)
    mapping[torch.tensor(classes)] = torch.arange(len(classes))

    def pick(images, labels, limit):
        chosen = []
        for label in classes:
            where = torch.nonzero(labels == label).flatten()
            where = where[torch.randperm(len(where), generator=generator)]
            chosen.append(where[:limit] if limit is not None else where)
        index = torch.cat(chosen)
        return images[index], mapping[labels[index]]

    train_images, train_labels = pick(data.train_images, data.train_labels, per_class)
    val_images, val_labels = pick(data.val_images, data.val_labels, None)
    test_images, test_labels = pick(data.test_images, data.test_labels, None)
    return replace(data, name=f"{data.name} ({len(classes)} classes, {per_class} per class)",
                   classes=tuple(data.classes[i] for i in classes), train_images=train_images,
                   train_labels=train_labels, val_images=val_images, val_labels=val_labels,
                   test_images=test_images, test_labels=test_labels)
