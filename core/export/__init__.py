"""Taking a design out of ConvStudio, and bringing weights in.

- :func:`export_pytorch_source`: a standalone, readable ``.py`` whose module names are the app's;
- :func:`export_torch_program` (``torch.export``, ``.pt2``) and :func:`export_torchscript` (``.pt``);
- :func:`export_onnx` (needs the optional ``onnx`` and ``onnxscript`` packages);
- :func:`model_summary` / :func:`export_summary`: the shape table with formulas as text or Markdown;
- :func:`import_weights`: a state_dict or safetensors file from elsewhere, by module name.

Every export returns an :class:`ExportResult` saying what it wrote, and raises
:class:`ExportError` with a message for a person when it cannot. Reading a run
folder for export lives in :mod:`core.export.run_source`, so exporting a model
needs no training code.
"""

from convstudio.core.export.common import ExportError, ExportResult
from convstudio.core.export.onnx_export import export_onnx
from convstudio.core.export.programs import export_torch_program, export_torchscript
from convstudio.core.export.pytorch_source import export_pytorch_source, pytorch_source
from convstudio.core.export.summary import export_summary, model_summary
from convstudio.core.export.weights_import import WeightsImportError, WeightsImportReport, import_weights

__all__ = [
    "ExportError", "ExportResult", "WeightsImportError", "WeightsImportReport",
    "export_onnx", "export_pytorch_source", "export_summary", "export_torch_program", "export_torchscript",
    "import_weights", "model_summary", "pytorch_source",
]
