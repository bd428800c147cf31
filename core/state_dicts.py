"""Which tensors of a state dict fit a model: same name, same shape, same kind of number.

Starting a run from another run's weights (:mod:`core.training.transfer`) and
importing weights trained elsewhere (:mod:`core.export.weights_import`) both
sort a source's tensors here, then load the fitting ones and report the rest in
their own words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class SkippedKey:
    """A tensor of the source that was not loaded, and why."""

    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}"


@dataclass(frozen=True)
class TensorMatch:
    """A source's entries sorted against a model's state dict."""

    fitting: dict[str, torch.Tensor]  # name -> the source's tensor, ready to load
    missing: tuple[str, ...]  # the model's tensors the source lacks
    unexpected: tuple[SkippedKey, ...]  # the source's entries with no place in the model
    mismatched: tuple[SkippedKey, ...]  # same name, but another shape or kind of number

    @property
    def mismatched_keys(self) -> set[str]:
        return {skipped.key for skipped in self.mismatched}


def shape_text(tensor: torch.Tensor) -> str:
    """``10x84``, or "a scalar"."""
    return "x".join(map(str, tensor.shape)) or "a scalar"


def match_tensors(target: Mapping[str, torch.Tensor], source: Mapping[str, Any],
                  why_unexpected: Callable[[str], str] = lambda key: "not in the model") -> TensorMatch:
    """Sort ``source``'s entries against ``target`` (a model's ``state_dict()``).

    A tensor fits when ``target`` has its name, its shape, and floating point
    where the target's is (an integer counter never overwrites a weight).
    ``why_unexpected(key)`` says why a name has no place in the model.
    """
    fitting: dict[str, torch.Tensor] = {}
    unexpected: list[SkippedKey] = []
    mismatched: list[SkippedKey] = []
    for key, value in source.items():
        if not isinstance(value, torch.Tensor):
            unexpected.append(SkippedKey(key, f"not a tensor ({type(value).__name__})"))
        elif key not in target:
            unexpected.append(SkippedKey(key, why_unexpected(key)))
        elif value.shape != target[key].shape:
            mismatched.append(SkippedKey(key, f"file {shape_text(value)}, model {shape_text(target[key])}"))
        elif value.is_floating_point() != target[key].is_floating_point():
            mismatched.append(SkippedKey(key, f"file holds {value.dtype}, model {target[key].dtype}"))
        else:
            fitting[key] = value
    skipped = {item.key for item in mismatched}
    missing = tuple(key for key in target if key not in fitting and key not in skipped)
    return TensorMatch(fitting, missing, tuple(unexpected), tuple(mismatched))


def load_fitting(model: nn.Module, tensors: Mapping[str, torch.Tensor]) -> None:
    """Copy ``tensors`` (fitting ones, see :func:`match_tensors`) into ``model``; the rest stay as they are.

    ``load_state_dict`` copies in place, converting dtype and device to the model's.
    """
    model.load_state_dict(dict(tensors), strict=False)
