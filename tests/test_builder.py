"""The builder: readable module names, the right module for each layer, the logits,
seeded builds, the initialisation schemes (the lecture's eq. 27-29 among them),
and refusal of impossible designs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from convstudio.core.builder import DesignNet, DesignShapeError, build_model
from convstudio.core.design import Design
from convstudio.core.initialisation import INIT_SCHEMES, fan_in, initialise
from convstudio.core.presets import load_preset
from convstudio.core.shapes import infer_shapes


def design(input_spec: dict, *layers: dict) -> Design:
    return Design.model_validate({"input": input_spec, "layers": list(layers)})


IMAGE = {"channels": 3, "height": 16, "width": 16}


def test_cifar10_module_names():
    model = build_model(load_preset("cifar10"), device="meta")
    names = list(model._modules)
    assert names[:9] == ["conv1", "conv1_relu", "bn1", "conv2", "conv2_relu", "maxpool1", "dropout1",
                         "conv3", "conv3_relu"]
    assert names[-7:] == ["flatten1", "fc1", "fc1_relu", "fc2", "fc2_relu", "fc3", "softmax1"]
    assert model.layer_modules[0] == ("conv1", "conv1_relu")
    assert model.layer_modules[1] == ("bn1",)
    assert model.layer_modules[-2] == ("fc3",)  # activation "none": no extra module
    assert {f"conv{i}" for i in range(1, 9)} <= set(names)
    assert {f"bn{i}" for i in range(1, 6)} <= set(names)
    state = model.state_dict()
    assert "conv8.weight" in state and "bn5.running_mean" in state and "fc3.bias" in state
    # The names are those the shape engine reports, so tables and state_dict agree.
    report = infer_shapes(load_preset("cifar10"))
    assert [names[0] for names in model.layer_modules] == [layer.name for layer in report.layers]


def test_user_given_names_are_used_and_generated_names_avoid_them():
    model = build_model(design(
        IMAGE,
        {"kind": "conv2d", "out_channels": 4, "kernel_size": 3},
        {"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "name": "conv1", "activation": "tanh"},
        {"kind": "flatten", "name": "to_vector"},
        {"kind": "linear", "out_features": 3, "name": "classifier", "activation": "none"},
    ), device="meta")
    assert model.layer_modules == [("conv2", "conv2_relu"), ("conv1", "conv1_tanh"), ("to_vector",),
                                   ("classifier",)]
    assert isinstance(model.conv1_tanh, nn.Tanh)
    assert isinstance(model.classifier, nn.Linear)


@pytest.mark.parametrize(("input_spec", "prefix", "expected"), [
    ({"channels": 3, "height": 8, "width": 8}, [], nn.BatchNorm2d),
    ({"channels": 3, "depth": 4, "height": 8, "width": 8}, [], nn.BatchNorm3d),
    ({"channels": 3, "height": 8, "width": 8}, [{"kind": "flatten"}], nn.BatchNorm1d),
])
def test_batchnorm_dimension_follows_its_input(input_spec, prefix, expected):
    model = build_model(design(input_spec, *prefix, {"kind": "batchnorm", "eps": 1e-3, "momentum": 0.2}))
    norm = model[-1]
    assert type(norm) is expected
    assert norm.num_features == (192 if prefix else 3)
    assert (norm.eps, norm.momentum) == (1e-3, 0.2)
    assert torch.equal(norm.weight.detach(), torch.ones_like(norm.weight))
    model(torch.randn(2, *design(input_spec).input.shape))


def test_linear_with_flatten_input():
    model = build_model(design(IMAGE, {"kind": "linear", "out_features": 5, "flatten_input": True}))
    assert model.layer_modules == [("fc1_flatten", "fc1", "fc1_relu")]
    assert isinstance(model.fc1_flatten, nn.Flatten)
    assert model.fc1.in_features == 3 * 16 * 16
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 5)


def test_modules_for_each_kind():
    model = build_model(design(
        {"channels": 2, "depth": 6, "height": 10, "width": 10},
        {"kind": "conv3d", "out_channels": 4, "kernel_size": [3, 5, 5], "stride": [1, 2, 2],
         "padding": [1, 2, 2], "bias": False, "activation": "elu"},
        {"kind": "maxpool3d", "kernel_size": 2},
        {"kind": "avgpool3d", "kernel_size": [1, 2, 2], "padding": [0, 1, 1]},
        {"kind": "dropout", "p": 0.3},
        {"kind": "flatten"},
        {"kind": "activation", "activation": "none"},
        {"kind": "activation", "activation": "sigmoid"},
        {"kind": "softmax"},
    ), device="meta")
    conv = model.conv1
    assert isinstance(conv, nn.Conv3d)
    assert (conv.kernel_size, conv.stride, conv.padding, conv.bias) == ((3, 5, 5), (1, 2, 2), (1, 2, 2), None)
    assert isinstance(model.conv1_elu, nn.ELU)
    assert isinstance(model.maxpool1, nn.MaxPool3d) and model.maxpool1.stride == (2, 2, 2)
    assert isinstance(model.avgpool1, nn.AvgPool3d) and model.avgpool1.stride == (1, 2, 2)
    assert isinstance(model.dropout1, nn.Dropout) and model.dropout1.p == 0.3
    assert isinstance(model.act1, nn.Identity)
    assert isinstance(model.act2, nn.Sigmoid)
    assert isinstance(model.softmax1, nn.Softmax) and model.softmax1.dim == 1


def test_logits_drop_the_final_softmax():
    model = build_model(load_preset("lenet"), seed=0).eval()
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        logits = model.logits(x)
        probabilities = model(x)
    assert model.ends_with_softmax
    assert not torch.allclose(logits.sum(dim=1), torch.ones(3))
    torch.testing.assert_close(torch.softmax(logits, dim=1), probabilities)


def test_logits_without_a_softmax_are_the_output():
    model = build_model(design(IMAGE, {"kind": "flatten"}, {"kind": "linear", "out_features": 4,
                                                            "activation": "none"}), seed=0)
    assert not model.ends_with_softmax
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(model.logits(x), model(x))


def test_empty_design_builds():
    model = build_model(design(IMAGE))
    assert isinstance(model, DesignNet) and len(model) == 0 and not model.ends_with_softmax


@pytest.mark.parametrize("init", INIT_SCHEMES)
def test_seeded_builds_are_reproducible_and_leave_the_global_rng_alone(init):
    preset = load_preset("shapes_small")
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    first = build_model(preset, init=init, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    second = build_model(preset, init=init, seed=7)
    other = build_model(preset, init=init, seed=8)
    assert torch.equal(torch.get_rng_state(), state)
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key
    assert not torch.equal(first.conv1.weight, other.conv1.weight)


def test_unseeded_builds_differ():
    preset = load_preset("shapes_small")
    first, second = build_model(preset), build_model(preset)
    assert not torch.equal(first.conv1.weight, second.conv1.weight)


def test_meta_build_allocates_nothing():
    model = build_model(load_preset("cifar10"), init="he", device="meta")
    assert all(p.device.type == "meta" for p in model.parameters())


# --- initialisation (eq. 27-29) ------------------------------------------------------

WIDE = 4096  # d: wide enough that the variance estimate is tight


def wide_linear(init: str, gain: float = 1.0, seed: int = 0) -> DesignNet:
    return build_model(design({"channels": WIDE, "height": 1, "width": 1},
                              {"kind": "flatten"},
                              {"kind": "linear", "out_features": 512, "activation": "none"}),
                       init=init, gain=gain, seed=seed)


def pre_activation_variance(model: DesignNet) -> float:
    x = torch.randn(256, WIDE, 1, 1, generator=torch.Generator().manual_seed(99))  # mean 0, variance 1
    with torch.no_grad():
        return model.logits(x).var().item()


@pytest.mark.parametrize("init", ["lecture_normal", "lecture_uniform"])
def test_lecture_init_keeps_unit_variance_eq29(init):
    model = wide_linear(init)
    assert pre_activation_variance(model) == pytest.approx(1.0, abs=0.08)
    weight = model.fc1.weight.detach()
    assert weight.std().item() == pytest.approx(1 / math.sqrt(WIDE), rel=0.02)
    assert torch.count_nonzero(model.fc1.bias) == 0


def test_lecture_uniform_draws_are_bounded():
    weight = wide_linear("lecture_uniform", gain=1.5).fc1.weight.detach()
    bound = 1.5 * math.sqrt(3) / math.sqrt(WIDE)
    assert weight.abs().max().item() <= bound + 1e-7
    assert weight.abs().max().item() > 0.99 * bound  # it is a uniform law, not a normal one
    assert weight.mean().item() == pytest.approx(0.0, abs=1e-4)


def test_lecture_normal_draws_look_normal():
    weight = wide_linear("lecture_normal").fc1.weight.detach() * math.sqrt(WIDE)
    assert weight.abs().max().item() > 3.5  # a uniform law of variance 1 stops at sqrt(3)


@pytest.mark.parametrize("init", ["lecture_normal", "lecture_uniform"])
@pytest.mark.parametrize("gain", [0.5, 2.0])
def test_gain_c_scales_the_standard_deviation(init, gain):
    base = wide_linear(init, 1.0).fc1.weight.detach()
    scaled = wide_linear(init, gain).fc1.weight.detach()
    torch.testing.assert_close(scaled, gain * base)  # same seed, same draws, times C
    assert pre_activation_variance(wide_linear(init, gain)) == pytest.approx(gain**2, rel=0.08)


def test_he_gives_variance_two():
    model = wide_linear("he")
    assert pre_activation_variance(model) == pytest.approx(2.0, rel=0.05)
    assert torch.count_nonzero(model.fc1.bias) == 0


def test_glorot_bound():
    weight = wide_linear("glorot").fc1.weight.detach()
    bound = math.sqrt(6 / (WIDE + 512))
    assert weight.abs().max().item() <= bound + 1e-7
    assert weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_pytorch_default_bound():
    weight = wide_linear("pytorch_default").fc1.weight.detach()
    bound = 1 / math.sqrt(WIDE)  # kaiming_uniform with a = sqrt(5)
    assert weight.abs().max().item() <= bound + 1e-7
    assert weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_convolution_fan_in_counts_channels_and_kernel():
    model = build_model(design({"channels": 16, "height": 32, "width": 32},
                               {"kind": "conv2d", "out_channels": 64, "kernel_size": [3, 5]}),
                        init="lecture_normal", seed=0)
    weight = model.conv1.weight.detach()
    assert fan_in(weight) == 16 * 3 * 5
    assert weight.std().item() == pytest.approx(1 / math.sqrt(16 * 15), rel=0.05)
    # eq. (29) for a convolution: unit-variance inputs give unit-variance Z away from the borders.
    x = torch.randn(8, 16, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        z = model.conv1(x)
    assert z.var().item() == pytest.approx(1.0, abs=0.1)


def test_batchnorm_keeps_gamma_one_and_beta_zero():
    model = build_model(load_preset("shapes_small"), init="he", seed=0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            assert torch.equal(module.weight.detach(), torch.ones_like(module.weight))
            assert torch.equal(module.bias.detach(), torch.zeros_like(module.bias))


def test_unknown_scheme():
    with pytest.raises(ValueError, match="unknown initialisation 'xavier'"):
        initialise(nn.Linear(3, 3), "xavier")  # type: ignore[arg-type]


# --- refusing impossible designs -------------------------------------------------------


def test_invalid_design_is_refused_with_the_layer_named():
    impossible = design({"channels": 3, "height": 8, "width": 8},
                        {"kind": "conv2d", "out_channels": 4, "kernel_size": 3},
                        {"kind": "maxpool2d", "kernel_size": 2},
                        {"kind": "conv2d", "out_channels": 4, "kernel_size": 5})
    with pytest.raises(DesignShapeError) as caught:
        build_model(impossible)
    message = str(caught.value)
    assert message.startswith("the design cannot be built: layer 3 (conv2d): kernel 5 is larger")
    assert "Fix: kernel at most 3" in message
    assert isinstance(caught.value, ValueError)


def test_linear_on_maps_is_refused_not_guessed():
    with pytest.raises(DesignShapeError, match=r"layer 1 \(linear\): needs a flat vector"):
        build_model(design(IMAGE, {"kind": "linear", "out_features": 3}), device="meta")
