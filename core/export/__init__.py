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

from convstudio.core.lazy_exports import lazy_exports

# Every public name and the module that defines it. They are imported on first
# use (PEP 562), so that ``convstudio export --help`` and the format table in
# core.export.formats come without loading torch. (No module may share a name
# listed here: importing it would set the package attribute to the module.)
_HOMES = {
    "ExportError": "common", "ExportResult": "common", "export_onnx": "onnx_export",
    "export_torch_program": "programs", "export_torchscript": "programs",
    "export_pytorch_source": "pytorch_code", "pytorch_source": "pytorch_code",
    "export_summary": "summary", "model_summary": "summary",
    "WeightsImportError": "weights_import", "WeightsImportReport": "weights_import", "import_weights": "weights_import",
}

__all__ = sorted(_HOMES)

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
