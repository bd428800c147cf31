"""Initialisation and signal propagation (eq. 27-31): the variance probe reproduces the lecture's
claim where its assumptions hold and shows it failing, layer by layer, where they do not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convstudio.core.design import Design
from convstudio.core.initialisation import INIT_SCHEMES
from convstudio.core.lab.signal_propagation import compare_schemes, signal_propagation
from convstudio.core.presets import load_preset


def _stack(activation: str, layers: int = 6, width: int = 256) -> Design:
    """Flatten + ``layers`` linear layers of ``width`` units: 16 x 16 = 256 inputs."""
    return Design.model_validate({
        "name": f"{activation} stack",
        "input": {"channels": 1, "height": 16, "width": 16},
        "layers": [{"kind": "flatten"}]
        + [{"kind": "linear", "out_features": width, "activation": activation} for _ in range(layers)],
    })


@pytest.mark.parametrize("scheme", ["lecture_normal", "lecture_uniform"])
def test_lecture_init_keeps_var_z_near_one_on_a_linear_stack(scheme):
    """Eq. (29) and (31): C = 1, unit-variance inputs, identity activations: Var[Z] = 1 in every layer."""
    report = signal_propagation(_stack("none"), scheme, gain=1.0)
    variances = report.z_variances
    assert len(variances) == 6
    assert all(0.8 < v < 1.25 for v in variances), variances
    z_rows = report.of_kind("Z")
    assert all(row.claim_holds and row.assumption_holds for row in z_rows)
    assert all(abs(row.mean) < 0.1 for row in z_rows)
    # eq. (28) predicts each layer from its actual weights and input
    assert all(row.predicted_variance == pytest.approx(row.variance, rel=0.1) for row in z_rows)
    assert all(row.fan_in == 256 for row in z_rows)


def test_tanh_stack_shows_where_the_linearisation_fails():
    """With C = 1, Z is not "small": tanh shrinks Var = 1 to about 0.39, and the variance keeps
    falling slowly; the linearisation H ~ Z (eq. 30) gets better as Z gets smaller."""
    report = signal_propagation(_stack("tanh"), "lecture_normal")
    variances = report.z_variances
    assert 0.8 < variances[0] < 1.25  # eq. 29 holds for the first layer: its input is N(0, 1)
    assert 0.3 < variances[1] < 0.5  # Var[tanh(N(0, 1))] ~ 0.394
    assert all(b < a for a, b in zip(variances, variances[1:]))  # slow decay
    assert variances[-1] > 0.05
    z_rows, h_rows = report.of_kind("Z"), report.of_kind("H")
    assert [row.claim_holds for row in z_rows] == [True] + [False] * 5
    assert z_rows[0].assumption_holds and not z_rows[1].assumption_holds
    errors = [row.linearisation_error for row in h_rows]
    assert errors[0] > 0.35 and all(b < a for a, b in zip(errors, errors[1:])) and errors[-1] < 0.15
    # eq. 28 still predicts each layer from its input's second moment
    assert all(row.predicted_variance == pytest.approx(row.variance, rel=0.1) for row in z_rows)


def test_relu_halves_with_c_one_and_he_keeps_it():
    halving = signal_propagation(_stack("relu"), "lecture_normal").z_variances
    ratios = np.array(halving[1:]) / np.array(halving[:-1])
    assert np.all((ratios > 0.3) & (ratios < 0.7)), ratios
    he = signal_propagation(_stack("relu"), "he").z_variances
    assert all(1.2 < v < 3.0 for v in he), he  # He's sqrt(2 / d) keeps Var[Z] ~ 2 E[X^2] = 2
    relu_rows = signal_propagation(_stack("relu"), "he").of_kind("H")
    assert all(row.linearisation_error == pytest.approx(np.sqrt(0.5), abs=0.1) for row in relu_rows)


def test_pytorch_default_shrinks_by_a_third_per_layer():
    """Kaiming-uniform with a = sqrt(5) draws Var[W] = 1 / (3 d): each linear layer divides by 3,
    until the bias, U(-1/sqrt(d), 1/sqrt(d)) with variance 1 / (3 d), is all that is left."""
    report = signal_propagation(_stack("none"), "pytorch_default")
    variances = report.z_variances
    ratios = np.array(variances[1:]) / np.array(variances[:-1])
    assert 0.25 < variances[0] < 0.42
    assert np.all((ratios[:3] > 0.28) & (ratios[:3] < 0.4)), ratios
    assert variances[-1] < 0.01
    assert all(row.predicted_variance == pytest.approx(row.variance, rel=0.15) for row in report.of_kind("Z"))


def test_gradients_flow_back_with_constant_variance_under_the_lecture_init():
    report = signal_propagation(_stack("none"), "lecture_normal")
    grads = [row.grad_variance for row in report.of_kind("Z")]
    assert all(g > 0 for g in grads)
    assert max(grads) / min(grads) < 1.5
    shrinking = signal_propagation(_stack("none"), "pytorch_default")
    grads = [row.grad_variance for row in shrinking.of_kind("Z")]
    assert grads[-1] / grads[0] > 50  # going back, each layer divides the gradient's variance by 3 too


def test_batch_norm_resets_the_variance_and_can_be_stripped():
    design = load_preset("shapes_small")
    with_bn = signal_propagation(design, "he", batch_size=32)
    without = signal_propagation(design, "he", batch_norm=False, batch_size=32)
    bn_rows = with_bn.of_kind("BN")
    assert len(bn_rows) == 3 and not without.of_kind("BN")
    assert all(row.variance == pytest.approx(1.0, abs=0.02) and abs(row.mean) < 0.02 for row in bn_rows)
    assert with_bn.batch_norm and not without.batch_norm
    assert len(with_bn.of_kind("Z")) == len(without.of_kind("Z")) == 4
    assert [row.layer for row in with_bn.of_kind("Z")] == ["conv1", "conv2", "conv3", "fc1"]


def test_compare_schemes_covers_every_scheme_on_the_same_batch():
    reports = compare_schemes(_stack("tanh", layers=3, width=64), batch_size=128)
    assert [r.scheme for r in reports] == list(INIT_SCHEMES)
    first_inputs = {r.of_kind("Z")[0].input_second_moment for r in reports}
    assert len(first_inputs) == 1  # the same standard-normal batch for every scheme


def test_real_images_can_be_given():
    images = torch.rand(64, 1, 16, 16) * 4 + 2  # mean 4: the lecture's mean-zero assumption fails
    report = signal_propagation(_stack("none", layers=2), "lecture_normal", inputs=images)
    assert report.inputs == "data" and report.batch_size == 64
    first = report.of_kind("Z")[0]
    assert not first.assumption_holds and first.input_second_moment > 10
    assert first.predicted_variance == pytest.approx(first.variance, rel=0.35)
