"""What every export shares: its error, its result, and a checked copy of the model.

Exports never change the caller's model (the GUI may still be training it):
they work on a CPU float32 copy in eval mode, so batch normalisation uses its
running statistics and dropout is off, as in prediction.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from convstudio.core.builder import DesignNet, DesignShapeError, build_model
from convstudio.core.design import Design

INSTALL_HINT = "pip install 'convstudio[export]'"


class ExportError(Exception):
    """An export that cannot be done, with a message meant for a person."""


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: its files and one sentence saying what they are."""

    files: tuple[Path, ...]
    message: str

    def __str__(self) -> str:
        return self.message


def require_packages(what: str, packages: Sequence[str]) -> None:
    """Import ``packages`` or raise ExportError naming the ones missing.

    The message reads "``what`` needs the 'a' and 'b' packages: pip install ...".
    """
    missing = []
    for name in packages:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        quoted = " and ".join(f"'{name}'" for name in packages)
        noun = "package" if len(packages) == 1 else "packages"
        raise ExportError(f"{what} needs the {quoted} {noun}: {INSTALL_HINT} "
                          f"(missing here: {', '.join(missing)})")


def shapes_only_model(design: Design) -> DesignNet:
    """The design built on the meta device (no memory); ExportError if it cannot be built."""
    try:
        return build_model(design, device="meta")
    except DesignShapeError as error:
        raise ExportError(str(error)) from None
    except KeyError as error:  # nn.Module refuses a layer name that is one of its attributes
        raise ExportError(f"the design cannot be built: {error.args[0]}") from None


def inference_copy(model: nn.Module, design: Design) -> nn.Module:
    """A CPU float32 eval-mode copy of ``model``, after checking that it is ``design``'s network.

    The check compares every state_dict key and shape with the design built
    on the meta device, so a file never claims a design its weights do not fit.
    """
    expected = {key: tuple(value.shape) for key, value in shapes_only_model(design).state_dict().items()}
    actual = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    if actual != expected:
        differences = sorted(
            f"{key}: model {actual.get(key, 'absent')}, design {expected.get(key, 'absent')}"
            for key in expected.keys() | actual.keys()
            if actual.get(key) != expected.get(key)
        )
        raise ExportError(f"the model does not match the design {design.name!r}: "
                          + "; ".join(differences[:5]) + ("; ..." if len(differences) > 5 else ""))
    return copy.deepcopy(model).to("cpu", torch.float32).eval()


def example_input(design: Design, batch_size: int = 2) -> torch.Tensor:
    """A fixed random batch in the design's input shape, for tracing and checks."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn(batch_size, *design.input.shape, generator=generator)


def output_file(path: str | Path) -> Path:
    """``path`` as a Path, refusing a folder (the parent folder is created on writing)."""
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give a file name such as {path / 'model'}.<suffix>")
    return path
