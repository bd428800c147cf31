"""The model as a self-contained program: ``torch.export`` (``.pt2``) and TorchScript (``.pt``).

Both run without ConvStudio or the design's Python code and accept any batch
size. Each file also carries the design as ``design.json`` among its extra
files, so what it was built from travels with it.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

from convstudio.core.atomic import atomic_write_bytes
from convstudio.core.design import Design
from convstudio.core.export.common import ExportError, ExportResult, example_input, inference_copy, output_file

DESIGN_FILE = "design.json"


def batch_dimension() -> torch.export.Dim:
    """The dynamic batch axis: any size from 1 up."""
    return torch.export.Dim("batch", min=1)


def export_torch_program(model: nn.Module, design: Design, path: str | Path) -> ExportResult:
    """Write ``model`` (``design``'s network) as a ``torch.export`` program with a dynamic batch size.

    Load it with ``torch.export.load(path).module()``. Raises ExportError for an
    invalid design, a model that does not match it, or a model torch.export refuses.
    """
    path = output_file(path)
    model = inference_copy(model, design)
    # Batch 2, not 1: torch.export specialises sizes 0 and 1, so an example of 1 would fix the batch.
    example = example_input(design, batch_size=2)
    try:
        program = torch.export.export(model, (example,), dynamic_shapes=({0: batch_dimension()},))
    except Exception as error:  # torch.export reports unsupported code with many error types
        raise ExportError(f"torch.export could not export {design.name!r}: {error}") from error
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files={DESIGN_FILE: design.to_json()})
    atomic_write_bytes(path, buffer.getvalue())
    return ExportResult((path,), f"wrote {path}: torch.export program of {design.name!r}, any batch size; "
                                 "run it with torch.export.load(path).module()(images)")


def export_torchscript(model: nn.Module, design: Design, path: str | Path) -> ExportResult:
    """Write ``model`` (``design``'s network) as a TorchScript module (scripted, so any batch size works).

    Load it with ``torch.jit.load(path)``. PyTorch 2.x deprecates TorchScript in
    favour of torch.export; the result's message says so when PyTorch warns.
    """
    path = output_file(path)
    model = inference_copy(model, design)
    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FutureWarning)
        try:
            scripted = torch.jit.script(model)
        except Exception as error:  # TorchScript's compiler refuses Python it cannot type
            raise ExportError(f"TorchScript could not compile {design.name!r}: {error}") from error
        torch.jit.save(scripted, buffer, _extra_files={DESIGN_FILE: design.to_json()})
    atomic_write_bytes(path, buffer.getvalue())
    deprecated = any("deprecated" in str(warning.message) for warning in caught)
    note = " (PyTorch deprecates TorchScript; the torch.export format is its successor)" if deprecated else ""
    return ExportResult((path,), f"wrote {path}: TorchScript module of {design.name!r}, any batch size; "
                                 f"run it with torch.jit.load(path)(images){note}")
