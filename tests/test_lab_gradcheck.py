"""The finite-difference gradient check (eq. 1-2): passes on every preset, catches a wrong backward,
and its error-vs-Delta curve shows truncation falling and round-off rising."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from convstudio.core.builder import DesignNet, build_model
from convstudio.core.design import Design
from convstudio.core.lab.common import LabCancelled
from convstudio.core.lab.gradcheck import error_vs_delta, gradient_check
from convstudio.core.presets import load_preset, preset_keys

# Big presets get fewer entries and a smaller batch so the suite stays quick.
_SIZES = {"cifar10": (1, 2), "volume3d": (2, 2)}


def _dropout_design() -> Design:
    return Design.model_validate({
        "name": "dropout mlp",
        "input": {"channels": 1, "height": 6, "width": 6},
        "layers": [
            {"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "activation": "tanh"},
            {"kind": "flatten"},
            {"kind": "dropout", "p": 0.5},
            {"kind": "linear", "out_features": 12, "activation": "tanh"},
            {"kind": "dropout", "p": 0.3},
            {"kind": "linear", "out_features": 3, "activation": "none"},
        ],
    })


@pytest.mark.parametrize("key", preset_keys())
def test_every_preset_passes(key):
    entries, batch = _SIZES.get(key, (4, 4))
    report = gradient_check(load_preset(key), batch_size=batch, entries_per_tensor=entries)
    assert report.passed, [(l.layer, l.max_central_error, l.max_forward_error) for l in report.layers]
    layers_with_parameters = {l.layer for l in report.layers}
    assert "conv1" in layers_with_parameters and all(l.entries >= 1 for l in report.layers)
    assert all(layer.max_central_error < 1e-5 for layer in report.layers)


def test_dropout_masks_are_held_fixed():
    """With masks redrawn on every forward, g would jump by O(1) and the quotients be garbage."""
    report = gradient_check(_dropout_design(), entries_per_tensor=6)
    assert report.passed
    assert max(entry.central_error for entry in report.entries) < 1e-7  # smooth tanh net: far below tolerance


class _WrongGradient(torch.autograd.Function):
    """Identity going forward; going back, the gradient is multiplied by 1.5 (a bug to find)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * 1.5


class _BrokenLayer(nn.Module):
    def forward(self, x):
        return _WrongGradient.apply(x)


def _with_broken_layer_after(model: DesignNet, after: str) -> DesignNet:
    modules = OrderedDict()
    for name, module in model.named_children():
        modules[name] = module
        if name == after:
            modules["broken"] = _BrokenLayer()
    return DesignNet(modules, model.layer_modules)


def test_a_wrong_backward_fails_upstream_layers_only():
    design = load_preset("lenet")
    model = _with_broken_layer_after(build_model(design, seed=0), "conv2_tanh")
    report = gradient_check(design, entries_per_tensor=4, model=model)
    assert not report.passed
    verdict = {layer.layer: layer.passed for layer in report.layers}
    assert verdict == {"conv1": False, "conv2": False, "fc1": True, "fc2": True, "fc3": True}
    worst = {layer.layer: layer.max_central_error for layer in report.layers}
    assert worst["conv1"] > 0.1 and worst["fc1"] < 1e-6
    # the finite differences see the true gradient: autograd is 1.5 times it
    entry = max((e for e in report.entries if e.layer == "conv1"), key=lambda e: abs(e.central))
    assert entry.autograd == pytest.approx(1.5 * entry.central, rel=1e-5)


def test_the_callers_model_is_left_alone():
    design = load_preset("lenet")
    model = build_model(design, seed=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    gradient_check(design, entries_per_tensor=2, model=model)
    assert all(v.dtype == torch.float32 for v in model.state_dict().values() if v.is_floating_point())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_error_vs_delta_has_an_interior_minimum():
    curve = error_vs_delta(load_preset("lenet"), deltas=np.logspace(-14, -1, 27))
    forward = np.array(curve.forward_errors)
    central = np.array(curve.central_errors)
    assert 1e-9 <= curve.best_forward_delta <= 1e-5  # about sqrt(eps) in float64
    assert forward.min() < 1e-6
    # round-off on the left, truncation on the right, for the forward difference
    assert forward[0] > 1e3 * forward.min() and forward[-1] > 1e3 * forward.min()
    # the central difference's truncation falls like Delta^2, so its best Delta is larger
    assert curve.best_central_delta > curve.best_forward_delta and central.min() < forward.min()
    # truncation regime: forward error proportional to Delta (slope 1 on the log-log plot)
    right = slice(-6, -2)
    slope = np.polyfit(np.log10(curve.deltas[right]), np.log10(forward[right]), 1)[0]
    assert 0.8 < slope < 1.2
    assert not any(curve.kinks[:10])


def test_progress_and_cancelling():
    seen = []
    gradient_check(_dropout_design(), entries_per_tensor=2, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] and [d for d, _ in seen] == sorted(d for d, _ in seen)
    with pytest.raises(LabCancelled):
        gradient_check(_dropout_design(), should_stop=lambda: True)


def test_steps_across_a_kink_are_flagged_and_left_out():
    """With Delta = 1e-3 some steps move a ReLU input across 0 or change a max-pooling pick:
    there g is not differentiable, the quotients are off by O(1), and the check must not blame autograd."""
    design = Design.model_validate({
        "name": "relu and max pooling",
        "input": {"channels": 1, "height": 8, "width": 8},
        "layers": [
            {"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
            {"kind": "maxpool2d", "kernel_size": 2},
            {"kind": "flatten"},
            {"kind": "linear", "out_features": 3, "activation": "none"},
        ],
    })
    report = gradient_check(design, delta=1e-3, entries_per_tensor=8)
    kinked = [entry for entry in report.entries if entry.kink]
    assert kinked and max(entry.central_error for entry in kinked) > 1e-2
    conv1 = report.layers[0]
    assert conv1.layer == "conv1" and conv1.kinks == len(kinked) and conv1.entries >= 8
    assert conv1.max_central_error < 1e-5  # only the smooth entries count
    assert not any(entry.kink for entry in gradient_check(design, entries_per_tensor=8).entries)
