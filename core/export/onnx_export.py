"""The model as ONNX, for runtimes outside PyTorch (onnxruntime, TensorRT, browsers).

``onnx`` and ``onnxscript`` are optional packages (the ``export`` extra); the
exporter checks the written model with ``onnx.checker``. The graph has one
input ``input`` and one output ``output``, both with a dynamic ``batch`` axis.
The design travels in the model's metadata under ``convstudio_design``.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from convstudio.core.atomic import atomic_write_bytes
from convstudio.core.design import Design
from convstudio.core.export.common import (
    ExportError, ExportResult, example_input, inference_copy, output_file, require_packages,
)
from convstudio.core.export.programs import batch_dimension

INPUT_NAME, OUTPUT_NAME = "input", "output"


def require_onnx() -> None:
    """Raise ExportError unless onnx and onnxscript can be imported."""
    require_packages("ONNX export", ("onnx", "onnxscript"))


def export_onnx(model: nn.Module, design: Design, path: str | Path, opset: int | None = None) -> ExportResult:
    """Write ``model`` (``design``'s network) as an ONNX file with a dynamic batch axis.

    ``opset`` picks the ONNX operator set (None: the exporter's default).
    Raises ExportError when onnx/onnxscript are missing, for an invalid design or
    a model that does not match it, and when the exporter or checker refuses.
    """
    require_onnx()
    import onnx
    import torch

    path = output_file(path)
    model = inference_copy(model, design)
    example = example_input(design, batch_size=2)  # 2, not 1: a size-1 example would fix the batch
    try:
        program = torch.onnx.export(
            model, (example,), dynamo=True, dynamic_shapes=({0: batch_dimension()},),
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=opset, verbose=False,
        )
        proto = program.model_proto
        onnx.helper.set_model_props(proto, {"convstudio_design": design.to_json()})
        onnx.checker.check_model(proto, full_check=True)
    except Exception as error:  # the exporter and checker raise many error types
        raise ExportError(f"ONNX export of {design.name!r} failed: {error}") from error
    atomic_write_bytes(path, proto.SerializeToString())
    opset_used = next(entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx"))
    return ExportResult((path,), f"wrote {path}: ONNX model of {design.name!r} (opset "
                                 f"{opset_used}), input {INPUT_NAME!r} and output "
                                 f"{OUTPUT_NAME!r} with any batch size; checked by onnx.checker")
