"""Every preset loads, checks, builds and runs; the CIFAR10 preset is the lecture's
network exactly. (tests/test_packaging.py finds them in a built wheel.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from convstudio.core.builder import build_model
from convstudio.core.design import Design
from convstudio.core.presets import DEFAULT_PRESET, PRESET_ORDER, list_presets, load_preset, preset_keys
from convstudio.core.report_text import shape_chain
from convstudio.core.shapes import infer_shapes

ROOT = Path(__file__).resolve().parents[1]
PRESET_FILES = sorted(path.stem for path in (ROOT / "presets").glob("*.json"))

CIFAR10_CHAIN = (
    "3x32x32 -> 64x33x33 -> 64x34x34 -> 64x17x17 -> 64x18x18 -> 64x19x19 -> 64x9x9 -> 64x10x10 "
    "-> 64x8x8 -> 64x6x6 -> 64x4x4 -> 1024 -> 500 -> 500 -> 10"
)
CIFAR10_PARAMS = 1_144_970


def test_every_preset_file_is_listed():
    assert sorted(preset_keys()) == PRESET_FILES
    assert preset_keys()[: len(PRESET_ORDER)] == [key for key in PRESET_ORDER if key in PRESET_FILES]
    assert preset_keys()[0] == DEFAULT_PRESET == "cifar10"
    assert {"cifar10", "lenet", "shapes_small", "volume3d"} <= set(preset_keys())


def test_list_presets_gives_names_and_descriptions():
    infos = list_presets()
    assert [info.key for info in infos] == preset_keys()
    assert all(info.name and info.description for info in infos)


def test_unknown_preset():
    with pytest.raises(KeyError, match="no preset 'nope'; presets: cifar10"):
        load_preset("nope")


@pytest.mark.parametrize("key", PRESET_FILES)
def test_preset_loads_checks_builds_and_runs(key: str):
    design = load_preset(key)
    assert isinstance(design, Design)
    report = infer_shapes(design)
    assert report.valid, report.first_error()
    model = build_model(design, seed=0)
    assert sum(p.numel() for p in model.parameters()) == report.total_params
    assert model.ends_with_softmax
    model.eval()
    batch = torch.randn(2, *design.input.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        probabilities = model(batch)
        logits = model.logits(batch)
    assert probabilities.shape == (2, *report.output_shape)
    assert torch.isfinite(probabilities).all()
    assert (probabilities >= 0).all()
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(2))
    torch.testing.assert_close(torch.softmax(logits, dim=1), probabilities)
    # A training step works too (batch normalisation with a batch of 2, dropout on).
    model.train()
    loss = torch.nn.functional.cross_entropy(model.logits(batch), torch.tensor([0, 1]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_cifar10_chain_and_parameters_from_the_shape_engine():
    report = infer_shapes(load_preset("cifar10"))
    assert shape_chain(report) == CIFAR10_CHAIN
    assert report.total_params == CIFAR10_PARAMS
    assert f"{report.total_params:,}" == "1,144,970"


def test_cifar10_chain_and_parameters_from_the_built_torch_model():
    design = load_preset("cifar10")
    model = build_model(design, device="meta")
    assert sum(p.numel() for p in model.parameters()) == CIFAR10_PARAMS
    # Run it layer by layer and rebuild the chain from PyTorch's own shapes.
    x = torch.empty(2, *design.input.shape, device="meta")
    chain = ["x".join(map(str, x.shape[1:]))]
    for layer, names in zip(design.layers, model.layer_modules):
        for name in names:
            x = getattr(model, name)(x)
        if layer.kind in ("conv2d", "maxpool2d", "flatten", "linear"):
            chain.append("x".join(map(str, x.shape[1:])))
    assert " -> ".join(chain) == CIFAR10_CHAIN


def test_cifar10_is_the_lecture_network():
    design = load_preset("cifar10")
    assert design.input.shape == (3, 32, 32)
    kinds = [layer.kind for layer in design.layers]
    # The lecture's list, in its order ("Example of convolution network for CIFAR10").
    assert kinds == [
        "conv2d", "batchnorm", "conv2d", "maxpool2d", "dropout",
        "conv2d", "conv2d", "maxpool2d", "dropout", "batchnorm",
        "conv2d", "batchnorm", "conv2d", "dropout", "conv2d", "batchnorm", "conv2d", "batchnorm", "dropout",
        "flatten", "linear", "linear", "linear", "softmax",
    ]
    convs = [layer for layer in design.layers if layer.kind == "conv2d"]
    assert [c.out_channels for c in convs] == [64] * 8
    assert [c.kernel_size for c in convs] == [4, 4, 4, 4, 4, 3, 3, 3]
    assert [c.padding for c in convs] == [2] * 5 + [0] * 3
    assert [c.stride for c in convs] == [1] * 8
    pools = [layer for layer in design.layers if layer.kind == "maxpool2d"]
    assert [(p.kernel_size, p.axis_values("stride", 2)) for p in pools] == [(2, (2, 2))] * 2
    linears = [layer for layer in design.layers if layer.kind == "linear"]
    assert [(l.out_features, l.activation) for l in linears] == [(500, "relu"), (500, "relu"), (10, "none")]


def test_presets_are_read_through_importlib_resources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Presets come from the ``presets`` package, not from a path relative to the working folder."""
    monkeypatch.chdir(tmp_path)
    assert load_preset("lenet").input.shape == (1, 28, 28)
    assert sorted(preset_keys()) == PRESET_FILES
