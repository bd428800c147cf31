"""Weights trained elsewhere, loaded into a design's model by module name.

A plain PyTorch ``state_dict`` file (``.pt``/``.pth``, read with
``torch.load(weights_only=True)``, so no code in the file runs) or a
``.safetensors`` file (needs the optional ``safetensors`` package) loads when
its keys are the exported module's: ``conv1.weight``, ``bn1.running_mean``,
``fc1.bias``... Tensors whose shapes fit are loaded; the report says which were
not and why. Nothing is changed when no tensor fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convstudio.core.export.common import INSTALL_HINT
from convstudio.core.state_dicts import SkippedKey, load_fitting, match_tensors

# Prefixes other tools put before module names: DataParallel, torch.compile, Lightning.
_KNOWN_PREFIXES = ("module.", "_orig_mod.", "model.")
# Containers in which checkpoints keep their weights: ConvStudio's runs and Lightning.
_WEIGHT_ENTRIES = ("model", "state_dict")


class WeightsImportError(Exception):
    """A weights file that cannot be loaded into the model, with a message meant for a person."""


@dataclass(frozen=True)
class WeightsImportReport:
    """What :func:`import_weights` did with each tensor."""

    source: Path
    loaded: tuple[str, ...]
    missing: tuple[str, ...]  # the model's tensors the file lacks: they keep their values
    unexpected: tuple[SkippedKey, ...]  # the file's tensors with no place in the model
    mismatched: tuple[SkippedKey, ...]  # same name, but another shape or kind of value
    notes: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when every tensor of the model came from the file and the file had nothing else."""
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self) -> str:
        """A few lines for a person: counts first, then every skipped tensor with its reason."""
        total = len(self.loaded) + len(self.missing) + len(self.mismatched)
        lines = [f"loaded {len(self.loaded)} of the model's {total} tensors from {self.source.name}"]
        if self.mismatched:
            lines.append("not loaded, shapes differ: " + "; ".join(map(str, self.mismatched)))
        if self.missing:
            lines.append("not in the file, kept their current values: " + ", ".join(self.missing))
        if self.unexpected:
            lines.append("not in this design, ignored: " + "; ".join(map(str, self.unexpected)))
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    __str__ = describe


def _read_safetensors(path: Path) -> dict[str, Any]:
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError:
        raise WeightsImportError(f"reading .safetensors files needs the 'safetensors' package: {INSTALL_HINT}") from None
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as error:
        raise WeightsImportError(f"{path}: not a readable safetensors file ({error})") from None


def read_state_dict(path: str | Path) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The name -> tensor mapping in ``path``, and notes on how it was found.

    Accepts a bare state_dict, or a checkpoint holding one under ``model``
    (ConvStudio's best.pt / checkpoint.pt) or ``state_dict`` (Lightning).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsImportError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    if path.suffix == ".safetensors":
        return _read_safetensors(path), ()
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling refusals, truncated or foreign files
        raise WeightsImportError(
            f"{path}: not a readable PyTorch weights file ({error}). Only tensors and plain data are read; "
            "save weights with torch.save(model.state_dict(), path), or use a .safetensors file") from None
    if not isinstance(data, dict):
        raise WeightsImportError(f"{path}: holds a {type(data).__name__}, not a state_dict (a dict of tensors)")
    for entry in _WEIGHT_ENTRIES:
        if isinstance(data.get(entry), dict):
            return data[entry], (f"read the weights under the checkpoint's {entry!r} entry",)
    return data, ()


def _strip_prefix(state: dict[str, Any], wanted: set[str]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Remove a wrapper's prefix (``module.`` ...) when that is what keeps every key from matching."""
    if wanted & state.keys():
        return state, ()
    for prefix in _KNOWN_PREFIXES:
        if state and all(key.startswith(prefix) for key in state):
            stripped = {key[len(prefix):]: value for key, value in state.items()}
            if wanted & stripped.keys():
                return stripped, (f"removed the prefix {prefix!r} from the file's names",)
    return state, ()


def _why_unexpected(key: str, module_names: set[str]) -> str:
    module, _, attribute = key.rpartition(".")
    if module in module_names:
        return f"the design's {module} has no {attribute!r}"
    return f"the design has no module {module or key!r}"


def import_weights(model: nn.Module, path: str | Path) -> WeightsImportReport:
    """Load the tensors of ``path`` whose names and shapes match ``model``'s; report the rest.

    Raises WeightsImportError for an unreadable file, a missing optional
    package, or a file none of whose tensors fit (the model is then unchanged).
    """
    path = Path(path)
    state, notes = read_state_dict(path)
    target = model.state_dict()
    state, stripped = _strip_prefix(state, set(target))
    module_names = {name for name, _ in model.named_modules()}
    match = match_tensors(target, state, lambda key: _why_unexpected(key, module_names))
    if not match.fitting:
        reasons = "; ".join(map(str, (match.mismatched + match.unexpected)[:3])) or "the file holds no tensors"
        example = ", ".join(list(target)[:3])
        raise WeightsImportError(
            f"{path}: none of its {len(state)} entries fit this model ({reasons}). "
            f"Its names must be the model's module names, such as {example}")
    load_fitting(model, match.fitting)
    return WeightsImportReport(path, tuple(match.fitting), match.missing, match.unexpected, match.mismatched,
                               (*notes, *stripped))
