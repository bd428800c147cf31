"""Weights from a state_dict or safetensors file, loaded by module name; a report of what did not fit."""

import sys

import pytest
import torch

from convstudio.core.builder import build_model
from convstudio.core.export import WeightsImportError, import_weights
from convstudio.core.presets import load_preset
from model_helpers import perturbed_model


def trained_model(design, seed=0):
    """A perturbed model (see model_helpers), in evaluation mode."""
    return perturbed_model(design, seed).eval()


def outputs(model, design):
    images = torch.randn(3, *design.input.shape, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        return model.eval()(images)


@pytest.fixture
def design():
    return load_preset("shapes_small")


def test_a_full_state_dict_loads_every_tensor(design, tmp_path):
    source = trained_model(design)
    torch.save(source.state_dict(), tmp_path / "w.pth")
    target = build_model(design, seed=9)
    report = import_weights(target, tmp_path / "w.pth")
    assert report.complete and report.loaded == tuple(source.state_dict())
    assert report.describe().startswith(f"loaded {len(report.loaded)} of the model's {len(report.loaded)} tensors")
    torch.testing.assert_close(outputs(target, design), outputs(source, design), rtol=0, atol=0)


def test_safetensors_file_loads(design, tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    source = trained_model(design)
    safetensors_torch.save_file(source.state_dict(), str(tmp_path / "w.safetensors"))
    target = build_model(design, seed=9)
    assert import_weights(target, tmp_path / "w.safetensors").complete
    torch.testing.assert_close(outputs(target, design), outputs(source, design), rtol=0, atol=0)


def test_missing_safetensors_package_says_how_to_install(design, tmp_path, monkeypatch):
    (tmp_path / "w.safetensors").write_bytes(b"\0" * 16)
    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(WeightsImportError, match=r"needs the 'safetensors' package: pip install 'convstudio\[export\]'"):
        import_weights(build_model(design), tmp_path / "w.safetensors")


def test_changed_head_loads_the_rest_and_says_why_the_head_did_not(tmp_path):
    lenet = load_preset("lenet")
    torch.save(trained_model(lenet).state_dict(), tmp_path / "lenet.pt")
    five_classes = lenet.model_copy(deep=True)
    five_classes.layers[7].out_features = 5  # fc3: 84 -> 5 instead of 84 -> 10
    target = build_model(five_classes, seed=3)
    head_before = target.fc3.weight.clone()
    report = import_weights(target, tmp_path / "lenet.pt")
    assert [str(skip) for skip in report.mismatched] == ["fc3.weight: file 10x84, model 5x84", "fc3.bias: file 10, model 5"]
    assert not report.missing and not report.unexpected and not report.complete
    assert torch.equal(target.fc3.weight, head_before)
    assert torch.equal(target.conv1.weight, torch.load(tmp_path / "lenet.pt")["conv1.weight"])
    assert "not loaded, shapes differ: fc3.weight: file 10x84, model 5x84" in report.describe()


def test_missing_and_unexpected_tensors_are_reported_with_reasons(design, tmp_path):
    state = trained_model(design).state_dict()
    del state["conv1.bias"]
    state["conv1.scale"] = torch.ones(3)
    state["head.weight"] = torch.ones(2, 2)
    state["step"] = 12
    torch.save(state, tmp_path / "w.pt")
    target = build_model(design, seed=9)
    bias_before = target.conv1.bias.clone()
    report = import_weights(target, tmp_path / "w.pt")
    assert report.missing == ("conv1.bias",)
    assert torch.equal(target.conv1.bias, bias_before)
    assert [str(skip) for skip in report.unexpected] == [
        "conv1.scale: the design's conv1 has no 'scale'",
        "head.weight: the design has no module 'head'",
        "step: not a tensor (int)",
    ]


def test_checkpoints_and_wrapper_prefixes_are_understood(design, tmp_path):
    source = trained_model(design)
    torch.save({"model": source.state_dict(), "epoch": 4}, tmp_path / "best.pt")
    report = import_weights(build_model(design), tmp_path / "best.pt")
    assert report.complete and report.notes == ("read the weights under the checkpoint's 'model' entry",)
    torch.save({f"module.{k}": v for k, v in source.state_dict().items()}, tmp_path / "parallel.pt")
    target = build_model(design, seed=9)
    report = import_weights(target, tmp_path / "parallel.pt")
    assert report.complete and report.notes == ("removed the prefix 'module.' from the file's names",)
    torch.testing.assert_close(outputs(target, design), outputs(source, design), rtol=0, atol=0)


def test_nothing_matching_is_refused_and_changes_nothing(design, tmp_path):
    torch.save(build_model(load_preset("lenet")).state_dict(), tmp_path / "lenet.pt")
    target = build_model(design, seed=9)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(WeightsImportError, match=r"none of its 10 entries fit this model \(conv1.weight: file 6x1x5x5, "
                                                  r"model 16x3x3x3; .*such as conv1.weight, conv1.bias, bn1.weight"):
        import_weights(target, tmp_path / "lenet.pt")
    assert all(torch.equal(v, before[k]) for k, v in target.state_dict().items())


class NotWeights:
    pass


def test_unreadable_files_are_refused_clearly(design, tmp_path):
    model = build_model(design)
    with pytest.raises(WeightsImportError, match="no such file"):
        import_weights(model, tmp_path / "absent.pt")
    torch.save(NotWeights(), tmp_path / "object.pt")  # weights_only refuses to run code from the file
    with pytest.raises(WeightsImportError, match="not a readable PyTorch weights file"):
        import_weights(model, tmp_path / "object.pt")
    torch.save([torch.ones(1)], tmp_path / "list.pt")
    with pytest.raises(WeightsImportError, match="holds a list, not a state_dict"):
        import_weights(model, tmp_path / "list.pt")
