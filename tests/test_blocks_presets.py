"""The block presets: ResNet-20 and a small Inception-style net.

Their parameter counts are checked against independent plain-PyTorch
implementations written here from the papers (He et al. 2016, section 4.2;
Szegedy et al. 2015's Inception module), both train on the built-in dataset,
and ResNet-20 exported as ONNX gives the app model's outputs.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convstudio.core.builder import build_model
from convstudio.core.data import load_dataset
from convstudio.core.presets import load_preset
from convstudio.core.shapes import infer_shapes
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.records import EndReason, RunEnded, StepRecord
from convstudio.core.training.settings import TrainingSettings
from model_helpers import perturbed_model


# --- ResNet-20 as the paper describes it, in plain PyTorch ------------------------------------


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm; option "A" pads the identity with zeros, "B" projects."""

    def __init__(self, channels_in: int, channels: int, stride: int, option: str):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut: nn.Module = nn.Identity()
        self.pad = 0
        if stride != 1 or channels_in != channels:
            if option == "B":
                self.shortcut = nn.Sequential(nn.Conv2d(channels_in, channels, 1, stride, bias=False),
                                              nn.BatchNorm2d(channels))
            else:
                self.pad = channels - channels_in
                self.stride = stride

    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        if self.pad:
            x = nn.functional.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.pad // 2, self.pad // 2))
        else:
            x = self.shortcut(x)
        return torch.relu(out + x)


def resnet20(option: str) -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    channels_in = 16
    for channels, stride in ((16, 1), (32, 2), (64, 2)):
        for number in range(3):
            layers.append(BasicBlock(channels_in, channels, stride if number == 0 else 1, option))
            channels_in = channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_resnet20_parameter_count_matches_an_independent_implementation():
    design = load_preset("resnet20")
    report = infer_shapes(design)
    assert report.valid, report.first_error()
    assert report.total_params == count(resnet20("B")) == count(build_model(design, seed=0)) == 272_474
    # The description states both counts; the paper's option A is its "0.27M".
    assert count(resnet20("A")) == 269_722
    assert "272,474" in design.description and "269,722" in design.description
    assert resnet20("A")(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_resnet20_structure_is_three_stages_of_three_basic_blocks():
    design = load_preset("resnet20")
    blocks = [layer for layer in design.layers if layer.kind == "residual"]
    assert len(blocks) == 9
    widths = [block.body[0].out_channels for block in blocks]
    assert widths == [16] * 3 + [32] * 3 + [64] * 3
    assert [bool(block.shortcut) for block in blocks] == [False] * 3 + [True, False, False] * 2
    report = infer_shapes(design)
    outputs = [shape.output_shape for shape in report.layers if shape.kind == "residual"]
    assert outputs == [(16, 32, 32)] * 3 + [(32, 16, 16)] * 3 + [(64, 8, 8)] * 3
    assert report.layers[3].merge_text == "body 16x32x32 + shortcut (identity) 16x32x32"
    assert report.layers[6].merge_text == "body 32x16x16 + shortcut 32x16x16"
    model = build_model(design, device="meta")
    names = dict(model.named_modules())
    assert {"res1.body.conv1", "res1.body.bn2", "res4.shortcut.conv1", "res4.shortcut.bn1"} <= set(names)


# --- the Inception-style preset -------------------------------------------------------------


class Inception(nn.Module):
    def __init__(self, channels_in, c1, c3_reduce, c3, c5_reduce, c5, pool):
        super().__init__()
        self.b1 = nn.Sequential(nn.Conv2d(channels_in, c1, 1), nn.ReLU())
        self.b2 = nn.Sequential(nn.Conv2d(channels_in, c3_reduce, 1), nn.ReLU(), nn.Conv2d(c3_reduce, c3, 3, padding=1),
                                nn.ReLU())
        self.b3 = nn.Sequential(nn.Conv2d(channels_in, c5_reduce, 1), nn.ReLU(), nn.Conv2d(c5_reduce, c5, 5, padding=2),
                                nn.ReLU())
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(channels_in, pool, 1), nn.ReLU())

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], dim=1)


def inception_small() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(32), nn.MaxPool2d(2),
        Inception(32, 16, 16, 24, 4, 8, 8), nn.BatchNorm2d(56),
        Inception(56, 24, 24, 32, 8, 16, 16), nn.BatchNorm2d(88), nn.MaxPool2d(2),
        Inception(88, 32, 32, 48, 8, 16, 16), nn.BatchNorm2d(112),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(112, 10))


def test_inception_parameter_count_matches_an_independent_implementation():
    design = load_preset("inception_small")
    report = infer_shapes(design)
    assert report.valid, report.first_error()
    reference = inception_small()
    assert report.total_params == count(reference) == count(build_model(design, seed=0))
    assert sum(layer.kind == "concat" for layer in design.layers) == 3
    assert reference(torch.randn(2, 3, 32, 32)).shape == (2, 10)


# --- both train on the built-in dataset ------------------------------------------------------


@pytest.fixture(scope="module")
def few_shapes():
    return load_dataset("shapes", limit=40, seed=0)


@pytest.mark.parametrize("key", ["resnet20", "inception_small"])
def test_block_presets_train_on_the_builtin_dataset(key, few_shapes, tmp_path):
    settings = TrainingSettings(epochs=1, batch_size=16, learning_rate=3e-3, report_every=1, state_every=1,
                                mc_samples=1)
    records = list(TrainingRun(load_preset(key), settings, tmp_path / "run", data=few_shapes).records())
    ended = records[-1]
    assert isinstance(ended, RunEnded) and ended.reason == EndReason.FINISHED, ended
    steps = [record for record in records if isinstance(record, StepRecord)]
    assert len(steps) >= 2 and all(torch.isfinite(torch.tensor(step.loss)) for step in steps)
    # The per-layer statistics name the layers inside the blocks.
    first = next(step for step in steps if step.layer_stats)
    names = [stat.layer for stat in first.layer_stats]
    assert names == infer_shapes(load_preset(key)).parameter_layer_names()
    assert ("res1.body.conv1" if key == "resnet20" else "concat1.branches.1.conv2") in names


# --- export round trip: ONNX (torch.export, TorchScript and the source are in their own tests) ---


def test_resnet20_onnx_export_gives_the_same_outputs(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    from convstudio.core.export import export_onnx

    design = load_preset("resnet20")
    model = perturbed_model(design, 0).eval()
    export_onnx(model, design, tmp_path / "resnet20.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "resnet20.onnx"))
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = model(images).numpy()
    got = session.run(None, {session.get_inputs()[0].name: images.numpy()})[0]
    assert got.shape == expected.shape
    assert abs(got - expected).max() < 1e-4
