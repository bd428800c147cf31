"""The generated PyTorch source against the app's own model: same names, same outputs, bit for bit."""

import ast
import importlib.util
import subprocess
import sys

import pytest
import torch

from convstudio.core.builder import build_model
from convstudio.core.design import Design
from convstudio.core.export import ExportError, export_pytorch_source, pytorch_source
from convstudio.core.export.pytorch_code import source_class_name
from convstudio.core.presets import load_preset, preset_keys
from convstudio.core.report_text import layer_formula
from convstudio.core.shapes import infer_shapes
from model_helpers import perturbed_model

# Every layer kind, activation and builder naming case the presets leave out.
EVERY_KIND = Design.model_validate({
    "name": "every kind",
    "input": {"channels": 3, "height": 12, "width": 12},
    "layers": [
        {"kind": "conv2d", "name": "stem", "out_channels": 4, "kernel_size": 3, "padding": 1, "activation": "leaky_relu"},
        {"kind": "batchnorm", "eps": 1e-3, "momentum": 0.2},
        {"kind": "maxpool2d", "kernel_size": 3, "stride": 1, "padding": 1},
        {"kind": "avgpool2d", "kernel_size": 3, "stride": 2, "padding": 1},
        {"kind": "conv2d", "out_channels": 6, "kernel_size": [3, 1], "stride": [1, 2], "bias": False, "activation": "elu"},
        {"kind": "dropout", "p": 0.3},
        {"kind": "activation", "activation": "gelu"},
        {"kind": "activation", "activation": "none"},
        {"kind": "linear", "out_features": 16, "flatten_input": True, "activation": "sigmoid"},
        {"kind": "batchnorm"},
        {"kind": "linear", "out_features": 5, "bias": False, "activation": "tanh"},
    ],
})
DESIGNS = {key: load_preset(key) for key in preset_keys()} | {"every_kind": EVERY_KIND}


def trained_model(design, seed=0):
    """A perturbed model (see model_helpers) whose running statistics also moved as in training."""
    model = perturbed_model(design, seed)
    generator = torch.Generator().manual_seed(seed + 2)
    model(torch.randn(4, *design.input.shape, generator=generator))  # moves running stats as training does
    return model.eval()


def import_file(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("key", list(DESIGNS))
def test_generated_module_reproduces_the_app_model_exactly(key, tmp_path):
    design = DESIGNS[key]
    model = trained_model(design)
    result = export_pytorch_source(design, tmp_path / "net.py", weights=model.state_dict())
    assert result.files == (tmp_path / "net.py", tmp_path / "net.pt")
    generated = import_file(tmp_path / "net.py", f"exported_{key}")
    loaded = generated.load(tmp_path / "net.pt")
    assert type(loaded).__name__ == source_class_name(design)
    assert list(loaded.state_dict()) == list(model.state_dict())
    assert not loaded.training
    images = torch.randn(6, *design.input.shape, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), model(images), rtol=0, atol=0)
        if model.ends_with_softmax:
            torch.testing.assert_close(loaded.logits(images), model.logits(images), rtol=0, atol=0)


def test_load_reads_a_run_checkpoint(tmp_path):
    design = load_preset("shapes_small")
    model = trained_model(design)
    export_pytorch_source(design, tmp_path / "net.py")
    torch.save({"model": model.state_dict(), "epoch": 3}, tmp_path / "best.pt")
    loaded = import_file(tmp_path / "net.py", "exported_checkpoint").load(tmp_path / "best.pt")
    images = torch.randn(2, *design.input.shape)
    torch.testing.assert_close(loaded(images), model(images), rtol=0, atol=0)


def test_source_imports_only_torch_and_reads_one_operation_per_line():
    design = load_preset("cifar10")
    source = pytorch_source(design)
    tree = ast.parse(source)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"torch"}
    model = build_model(design, device="meta")
    lines = source.splitlines()
    for name in dict(model.named_children()):
        calls = [line for line in lines if line.strip().startswith(f"x = self.{name}(x)")]
        assert len(calls) == 1, name
        assert "  # " in calls[0]  # every operation carries its output shape
    report = infer_shapes(design)
    for layer in report.layers:
        if layer.formulas:
            assert layer_formula(layer) in source
    assert "# 64x33x33" in source and "# 1024" in source


def test_running_the_file_prints_the_output_shape(tmp_path):
    export_pytorch_source(load_preset("lenet"), tmp_path / "lenet.py")
    done = subprocess.run([sys.executable, str(tmp_path / "lenet.py")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "torch.Size([2, 10])"


def test_class_names_and_awkward_design_names():
    assert source_class_name(load_preset("lenet")) == "LeNet5Net"
    assert source_class_name(load_preset("cifar10")) == "CIFAR10Net"
    assert source_class_name(load_preset("volume3d")) == "Design3DConvolutionNet"
    awkward = EVERY_KIND.model_copy(update={"name": 'odd """ name \\ with\nnewline"', "description": 'ends in "'})
    source = pytorch_source(awkward)
    compile(source, "awkward.py", "exec")
    assert "class OddNameWithNewlineNet(nn.Module):" in source


def test_invalid_design_is_refused_with_the_builder_message(tmp_path):
    design = load_preset("lenet").model_copy(deep=True)
    design.layers[1].kernel_size = 100
    with pytest.raises(ExportError, match=r"the design cannot be built: layer 2 \(avgpool2d\): kernel 100"):
        export_pytorch_source(design, tmp_path / "net.py")
    assert not (tmp_path / "net.py").exists()


def test_keyword_layer_name_and_foreign_weights_are_refused(tmp_path):
    named = load_preset("lenet").model_copy(deep=True)
    named.layers[0].name = "class"
    with pytest.raises(ExportError, match="'class' is a Python keyword"):
        pytorch_source(named)
    other = build_model(load_preset("shapes_small")).state_dict()
    with pytest.raises(ExportError, match="weights do not fit"):
        export_pytorch_source(load_preset("lenet"), tmp_path / "net.py", weights=other)
    with pytest.raises(ExportError, match="is a folder"):
        export_pytorch_source(load_preset("lenet"), tmp_path)
