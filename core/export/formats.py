"""One entry point for every file format, shared by ``convstudio export`` and the app's File > Export.

The format table needs no torch (the CLI builds its parser from it); :func:`export_as` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from convstudio.core.export.common import ExportResult
    from convstudio.core.export.run_source import ExportSource

FORMATS = {
    "py": "standalone PyTorch source (.py, plus its weights as .pt for a run)",
    "torchscript": "TorchScript module (.pt)",
    "export": "torch.export program (.pt2)",
    "onnx": "ONNX model (.onnx; needs the export extra)",
    "summary": "shape table with formulas as text (.txt)",
    "markdown": "shape table with formulas as Markdown (.md)",
}
FORMAT_BY_SUFFIX = {".py": "py", ".pt2": "export", ".onnx": "onnx", ".txt": "summary", ".md": "markdown"}
SUFFIX_BY_FORMAT = {"py": ".py", "torchscript": ".pt", "export": ".pt2", "onnx": ".onnx", "summary": ".txt",
                    "markdown": ".md"}
SUMMARY_STYLES = {"summary": "text", "markdown": "markdown"}


def export_as(source: ExportSource, fmt: str, out: str | Path) -> ExportResult:
    """Write ``source`` (a design and its model) to ``out`` in format ``fmt``; raises ExportError."""
    # The exporters load torch: imported here, so that the table above comes without it.
    from convstudio.core.export.onnx_export import export_onnx
    from convstudio.core.export.programs import export_torch_program, export_torchscript
    from convstudio.core.export.pytorch_code import export_pytorch_source
    from convstudio.core.export.summary import export_summary

    if fmt in SUMMARY_STYLES:
        return export_summary(source.design, out, SUMMARY_STYLES[fmt])
    if fmt == "py":
        return export_pytorch_source(source.design, out, source.model.state_dict() if source.trained else None)
    exporter = {"torchscript": export_torchscript, "export": export_torch_program, "onnx": export_onnx}[fmt]
    return exporter(source.model, source.design, out)
