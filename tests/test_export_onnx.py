"""ONNX files run by onnxruntime against the app's model, or checked by onnx.checker; and the missing-package message."""

import importlib.util
import sys

import pytest
import torch

from convstudio.core.builder import build_model
from convstudio.core.export import ExportError, export_onnx
from convstudio.core.presets import load_preset
from model_helpers import perturbed_model

MISSING_MESSAGE = "ONNX export needs the 'onnx' and 'onnxscript' packages: pip install 'convstudio[export]'"


def trained_model(design, seed=0):
    """A perturbed model (see model_helpers), in training mode."""
    return perturbed_model(design, seed)


def test_missing_packages_give_the_install_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # makes `import onnxscript` fail
    design = load_preset("lenet")
    with pytest.raises(ExportError) as caught:
        export_onnx(build_model(design), design, tmp_path / "m.onnx")
    assert str(caught.value).startswith(MISSING_MESSAGE)
    assert "missing here: onnxscript" in str(caught.value)
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("key", ["shapes_small", "volume3d"])
def test_onnx_round_trip_with_a_dynamic_batch(key, tmp_path):
    """Checked by onnx.checker always; run by onnxruntime where it is installed."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    design = load_preset(key)
    model = trained_model(design)
    result = export_onnx(model, design, tmp_path / "m.onnx")
    assert result.files == (tmp_path / "m.onnx",) and "checked by onnx.checker" in result.message
    proto = onnx.load(tmp_path / "m.onnx")
    onnx.checker.check_model(proto, full_check=True)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and not dims[0].dim_value  # a named, dynamic batch axis
    assert [d.dim_value for d in dims[1:]] == list(design.input.shape)
    assert {p.key: p.value for p in proto.metadata_props}["convstudio_design"] == design.to_json()
    if importlib.util.find_spec("onnxruntime") is None:
        return
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    model.eval()
    for size in (1, 5):
        images = torch.randn(size, *design.input.shape, generator=torch.Generator().manual_seed(size))
        (output,) = session.run(None, {"input": images.numpy()})
        with torch.no_grad():
            torch.testing.assert_close(torch.from_numpy(output), model(images), rtol=1e-5, atol=1e-6)


def test_invalid_design_is_refused(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    design = load_preset("lenet")
    broken = design.model_copy(deep=True)
    broken.layers[0].kernel_size = 60
    with pytest.raises(ExportError, match="the design cannot be built"):
        export_onnx(build_model(design), broken, tmp_path / "m.onnx")
