"""The dropout inference lab (eq. 22-24): Monte Carlo dropout against weight scaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from convstudio.core.builder import build_model
from convstudio.core.design import Design
from convstudio.core.lab.dropout_lab import (
    ECE_BINS, calibration, dropout_inference_curve, monte_carlo_probabilities, summary_lines,
    weight_scaling_probabilities,
)


def _design(p: float, batch_norm: bool = True) -> Design:
    layers = [{"kind": "conv2d", "out_channels": 6, "kernel_size": 3, "padding": 1}]
    layers += [{"kind": "batchnorm"}] if batch_norm else []
    layers += [
        {"kind": "flatten"},
        {"kind": "dropout", "p": p},
        {"kind": "linear", "out_features": 32},
        {"kind": "dropout", "p": p},
        {"kind": "linear", "out_features": 4, "activation": "none"},
        {"kind": "softmax"},
    ]
    return Design.model_validate({"name": "mc", "input": {"channels": 1, "height": 6, "width": 6}, "layers": layers})


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(5)
    images = torch.randn(120, 1, 6, 6, generator=generator)
    labels = torch.randint(0, 4, (120,), generator=generator)
    return images, labels


def _model(p: float, batch_norm: bool = True):
    model = build_model(_design(p, batch_norm), seed=1)
    with torch.no_grad():  # running statistics that differ from the batch's, so eval mode matters
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.fill_(0.3)
                module.running_var.fill_(2.0)
    return model


def test_t_one_is_a_single_stochastic_forward_pass(data):
    images, _ = data
    model = _model(0.5)
    first = monte_carlo_probabilities(model, images, (1,), seed=7)[1]
    again = monte_carlo_probabilities(model, images, (1,), seed=7)[1]
    other = monte_carlo_probabilities(model, images, (1,), seed=8)[1]
    assert np.array_equal(first, again) and not np.allclose(first, other)
    # by hand: evaluation mode (running statistics), dropout sampling, one mask, seed 7
    torch.manual_seed(7)
    model.eval()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.train()
    with torch.no_grad():
        by_hand = F.softmax(model.logits(images), dim=1).numpy()
    model.eval()
    np.testing.assert_allclose(first, by_hand, rtol=1e-5, atol=1e-7)
    ws = weight_scaling_probabilities(model, images)
    assert np.abs(first - ws).max() > 0.05


def test_the_callers_random_state_is_left_alone(data):
    images, _ = data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    monte_carlo_probabilities(_model(0.5), images, (1, 2), seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_monte_carlo_converges_as_t_grows(data):
    images, _ = data
    mc = monte_carlo_probabilities(_model(0.5), images[:40], (1, 2, 200, 400), seed=0)
    early = np.abs(mc[1] - mc[2]).mean()
    late = np.abs(mc[200] - mc[400]).mean()
    assert late < early / 10
    assert np.allclose(mc[400].sum(axis=1), 1.0)


def test_without_dropout_the_rules_coincide(data):
    images, labels = data
    report = dropout_inference_curve(_model(0.0), images, labels, sample_counts=(1, 5))
    assert not report.has_dropout
    for mc in report.monte_carlo:
        assert mc.accuracy == report.weight_scaling.accuracy
        assert mc.nll == pytest.approx(report.weight_scaling.nll, abs=1e-6)
        assert mc.ece == pytest.approx(report.weight_scaling.ece, abs=1e-6)
    assert all(d.distance < 1e-6 for d in report.disagreements)
    no_dropout_layers = dropout_inference_curve(_model(0.3, batch_norm=False), images, labels, sample_counts=(2,))
    assert no_dropout_layers.has_dropout


def test_report_holds_curves_reliability_and_disagreements(data):
    images, labels = data
    report = dropout_inference_curve(_model(0.5), images, labels, sample_counts=(10, 1, 5), disagreements=7)
    assert report.samples == (1, 5, 10) and [m.samples for m in report.monte_carlo] == [1, 5, 10]
    assert report.image_count == 120 and report.has_dropout
    for rule in (report.weight_scaling, *report.monte_carlo):
        diagram = rule.reliability
        assert len(diagram.bin_edges) == ECE_BINS + 1 and sum(diagram.counts) == 120
        assert 0 <= rule.ece <= 1 and 0 <= rule.accuracy <= 1 and rule.nll > 0
    distances = [d.distance for d in report.disagreements]
    assert len(distances) == 7 and distances == sorted(distances, reverse=True) and distances[0] > 0.01
    top = report.disagreements[0]
    assert 0 <= top.monte_carlo_entropy <= np.log(4) + 1e-9 and sum(top.monte_carlo) == pytest.approx(1.0)
    assert top.label == int(labels[top.index])
    assert "Monte Carlo" in "\n".join(summary_lines(report))


def test_calibration_by_hand():
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.45, 0.55]])
    labels = np.array([0, 1, 0, 1])
    ece, diagram = calibration(probabilities, labels, bins=10)
    # bin (0.8, 0.9]: two images, confidence 0.9, accuracy 0.5; bin (0.5, 0.6]: two, 0.575 and 1.0
    assert diagram.counts[8] == 2 and diagram.accuracy[8] == 0.5
    assert diagram.counts[5] == 2 and diagram.confidence[5] == pytest.approx(0.575)
    assert ece == pytest.approx(0.5 * 0.4 + 0.5 * 0.425)
    assert np.isnan(diagram.confidence[0])
