"""Every feature works on designs with blocks: freezing and transfer by layer inside a block,
the gradient check, the signal-propagation probe, the dropout lab and the lab's design edits."""

from __future__ import annotations

import pytest
import torch

from convstudio.core.builder import build_model
from convstudio.core.data import load_dataset
from convstudio.core.design import Design
from convstudio.core.lab.design_edits import with_batch_norm, without_batch_norm
from convstudio.core.lab.dropout_lab import dropout_inference_curve
from convstudio.core.lab.gradcheck import gradient_check
from convstudio.core.lab.signal_propagation import signal_propagation
from convstudio.core.layers import every_layer
from convstudio.core.naming import qualified_layer_names
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.records import EndReason, RunEnded
from convstudio.core.training.run_folder import load_checkpoint
from convstudio.core.training.settings import TrainingSettings
from convstudio.core.training.transfer import TransferError, frozen_layer_set, load_matching_weights

SIZE = 8


def block_design(classes: int = 10, batch_norm: bool = True) -> Design:
    """A tiny network with a residual block (projection shortcut), a concat block holding one, and dropout."""
    bn = [{"kind": "batchnorm"}] if batch_norm else []
    return Design.model_validate({"name": "blocks", "input": {"channels": 3, "height": SIZE, "width": SIZE}, "layers": [
        {"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"kind": "residual", "body": [
            {"kind": "conv2d", "out_channels": 6, "kernel_size": 3, "padding": 1, "stride": 2, "activation": "none"},
            *bn, {"kind": "activation", "activation": "relu"},
            {"kind": "conv2d", "out_channels": 6, "kernel_size": 3, "padding": 1, "activation": "none"}],
         "shortcut": [{"kind": "conv2d", "out_channels": 6, "kernel_size": 1, "stride": 2, "activation": "none"}]},
        {"kind": "concat", "branches": [
            [{"kind": "conv2d", "out_channels": 3, "kernel_size": 1}],
            [{"kind": "residual", "body": [{"kind": "conv2d", "out_channels": 6, "kernel_size": 3, "padding": 1}]},
             {"kind": "dropout", "p": 0.3}],
            [{"kind": "maxpool2d", "kernel_size": 3, "stride": 1, "padding": 1}]]},
        {"kind": "globalavgpool"}, {"kind": "flatten"},
        {"kind": "linear", "out_features": classes, "activation": "none"}, {"kind": "softmax"}]})


def test_qualified_names_reach_inside_blocks():
    names = qualified_layer_names(block_design().layers)
    assert names[:4] == ["conv1", "res1", "res1.body.conv1", "res1.body.bn1"]
    assert "res1.shortcut.conv1" in names and "concat1.branches.1.res1.body.conv1" in names
    model = build_model(block_design(), seed=0)
    assert [unit.name for unit in model.units] == names
    assert dict(model.named_modules()).keys() >= {name for name in names}


def test_freezing_names_check_and_include_blocks():
    names = qualified_layer_names(block_design().layers)
    assert frozen_layer_set(names, ["res1"], None) == {"res1"}
    assert frozen_layer_set(names, [], "res1.body.conv1") == {"conv1", "res1", "res1.body.conv1"}
    with pytest.raises(TransferError, match="cannot freeze 'res9'"):
        frozen_layer_set(names, ["res9"], None)


@pytest.fixture(scope="module")
def tiny_shapes():
    return load_dataset("shapes", limit=48, seed=0, image_size=SIZE)


@pytest.mark.parametrize("frozen", [["res1"], ["concat1.branches.1.res1.body.conv1"]])
def test_a_frozen_block_or_inner_layer_keeps_its_weights(frozen, tiny_shapes, tmp_path):
    design = block_design()
    settings = TrainingSettings(epochs=1, batch_size=16, learning_rate=1e-2, freeze=frozen, mc_samples=1, seed=3)
    records = list(TrainingRun(design, settings, tmp_path / "run", data=tiny_shapes).records())
    assert isinstance(records[-1], RunEnded) and records[-1].reason == EndReason.FINISHED, records[-1]
    before = build_model(design, seed=3).state_dict()
    after = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["model"]
    prefix = frozen[0] + "."
    for key, value in before.items():
        if not value.is_floating_point():
            continue
        unchanged = torch.equal(value, after[key].cpu())
        assert unchanged == key.startswith(prefix), key  # the frozen ones only, statistics included


def test_transfer_reports_layers_inside_blocks():
    source = build_model(block_design(classes=10), seed=0).state_dict()
    model = build_model(block_design(classes=4), seed=1)
    names = qualified_layer_names(block_design(classes=4).layers)
    report = load_matching_weights(model, names, source, "source")
    assert "res1.body.conv1" in report.loaded_layers and "concat1.branches.1.res1.body.conv1" in report.loaded_layers
    assert [item.layer for item in report.skipped_layers] == ["fc1"]
    torch.testing.assert_close(model.state_dict()["res1.shortcut.conv1.weight"], source["res1.shortcut.conv1.weight"])


def test_gradient_check_passes_on_blocks_and_names_inner_layers():
    report = gradient_check(block_design(), entries_per_tensor=2, batch_size=3)
    assert report.passed, [(layer.layer, layer.max_central_error) for layer in report.layers]
    layers = [layer.layer for layer in report.layers]
    assert {"res1.body.conv1", "res1.shortcut.conv1", "concat1.branches.1.res1.body.conv1"} <= set(layers)


def test_signal_propagation_sees_inside_blocks():
    report = signal_propagation(block_design(), batch_size=16)
    modules = [row.module for row in report.rows]
    assert "res1.body.conv1" in modules and "res1.activation" in modules
    owners = {row.module: row.layer for row in report.rows}
    assert owners["res1.body.conv1"] == "res1.body.conv1" and owners["res1.activation"] == "res1"


def test_dropout_lab_uses_dropout_inside_a_branch():
    model = build_model(block_design(), seed=0)
    images = torch.randn(20, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    report = dropout_inference_curve(model, images, torch.randint(0, 10, (20,)), sample_counts=(1, 3))
    assert report.has_dropout
    assert report.monte_carlo[-1].samples == 3


def test_lab_design_edits_reach_inside_blocks():
    plain = without_batch_norm(block_design())
    assert not any(layer.kind == "batchnorm" for layer in every_layer(plain.layers))
    assert plain == block_design(batch_norm=False)
    again = with_batch_norm(plain)
    inner = next(layer for layer in again.layers if layer.kind == "residual").body
    assert [layer.kind for layer in inner] == ["conv2d", "batchnorm", "activation", "conv2d", "batchnorm"]


def test_weight_import_fills_layers_inside_blocks_and_names_what_has_no_place(tmp_path):
    from convstudio.core.export.weights_import import import_weights

    source = build_model(block_design(), seed=0).state_dict()
    source["res1.body.conv9.weight"] = torch.zeros(1)
    torch.save({"module." + key: value for key, value in source.items()}, tmp_path / "w.pt")  # a DataParallel file
    model = build_model(block_design(), seed=1)
    report = import_weights(model, tmp_path / "w.pt")
    assert "res1.body.conv1.weight" in report.loaded and "concat1.branches.1.res1.body.conv1.weight" in report.loaded
    assert report.missing == ()
    assert [(item.key, item.reason) for item in report.unexpected] == [
        ("res1.body.conv9.weight", "the design has no module 'res1.body.conv9'")]
    torch.testing.assert_close(model.state_dict()["res1.shortcut.conv1.weight"], source["res1.shortcut.conv1.weight"])
