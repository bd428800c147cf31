"""The optimizer-state records against the lecture's formulas computed by hand (eq. 38, 39)."""

import math

import pytest
import torch

from convstudio.core.builder import build_model
from convstudio.core.design import Design
from convstudio.core.naming import layer_names
from convstudio.core.training.optimizer_state import ParameterIndex, collect_stats
from convstudio.core.training.optimizers import make_optimizer
from convstudio.core.training.settings import TrainingSettings


def _toy():
    design = Design.model_validate({
        "input": {"channels": 1, "height": 2, "width": 2},
        "layers": [{"kind": "flatten"}, {"kind": "linear", "out_features": 3, "activation": "none"}],
    })
    model = build_model(design, seed=3)
    images = torch.randn(8, 1, 2, 2, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    return design, model, images, labels


def _grads(model, images, labels):
    model.zero_grad()
    torch.nn.functional.cross_entropy(model.logits(images), labels).backward()
    return [p.grad.clone() for p in model.parameters()]


def _norm(tensors):
    return math.sqrt(sum(float((t.double() ** 2).sum()) for t in tensors))


def test_adam_state_matches_eq_39_by_hand():
    design, model, images, labels = _toy()
    settings = TrainingSettings(optimizer="adam", learning_rate=0.01, beta1=0.8, beta2=0.9, delta=1e-6)
    optimizer = make_optimizer(model, settings)
    index = ParameterIndex.from_model(model, layer_names(design.layers))
    theta = [p.detach().clone().double() for p in model.parameters()]
    s = [torch.zeros_like(t) for t in theta]
    r = [torch.zeros_like(t) for t in theta]
    eta, rho1, rho2, delta = 0.01, 0.8, 0.9, 1e-6
    for k in range(1, 4):
        g = [x.double() for x in _grads(model, images, labels)]
        before = [p.detach().clone() for p in index.params]
        optimizer.step()
        stats, states = collect_stats(optimizer, index, before).materialise()
        # eq. (39), written out
        s = [rho1 * si + (1 - rho1) * gi for si, gi in zip(s, g)]
        r = [rho2 * ri + (1 - rho2) * gi * gi for ri, gi in zip(r, g)]
        s_hat = [si / (1 - rho1 ** k) for si in s]
        r_hat = [ri / (1 - rho2 ** k) for ri in r]
        step = [-eta * sh / (delta + rh.sqrt()) for sh, rh in zip(s_hat, r_hat)]
        theta = [t + d for t, d in zip(theta, step)]
        (fc,) = states
        assert fc.layer == "fc1"
        assert fc.values["s"] == pytest.approx(_norm(s), rel=1e-5)
        assert fc.values["r"] == pytest.approx(_norm(r), rel=1e-5)
        assert fc.values["s_hat"] == pytest.approx(_norm(s_hat), rel=1e-5)
        assert fc.values["r_hat"] == pytest.approx(_norm(r_hat), rel=1e-5)
        assert fc.step_max == pytest.approx(max(float(d.abs().max()) for d in step), rel=1e-4)
        total = sum(d.numel() for d in step)
        assert fc.step_mean == pytest.approx(sum(float(d.abs().sum()) for d in step) / total, rel=1e-4)
        for p, t in zip(model.parameters(), theta):
            torch.testing.assert_close(p.detach().double(), t, rtol=1e-5, atol=1e-7)
        (grad_stat,) = stats
        assert grad_stat.grad_norm == pytest.approx(_norm(g), rel=1e-5)
        assert grad_stat.update_ratio == pytest.approx(_norm(step) / _norm(theta), rel=1e-4)


def test_rmsprop_r_matches_eq_38_and_step_follows_pytorch_convention():
    """r is the lecture's; the step is PyTorch's eta * g / (sqrt(r) + delta), not eta * g / sqrt(delta + r)."""
    design, model, images, labels = _toy()
    settings = TrainingSettings(optimizer="rmsprop", learning_rate=0.01, rho=0.9, delta=1e-2)
    optimizer = make_optimizer(model, settings)
    index = ParameterIndex.from_model(model, layer_names(design.layers))
    r = [torch.zeros_like(p).double() for p in model.parameters()]
    for _ in range(3):
        g = [x.double() for x in _grads(model, images, labels)]
        before = [p.detach().clone() for p in index.params]
        optimizer.step()
        _, (fc,) = collect_stats(optimizer, index, before).materialise()
        r = [0.9 * ri + 0.1 * gi * gi for ri, gi in zip(r, g)]  # eq. (38)
        assert fc.values["r"] == pytest.approx(_norm(r), rel=1e-5)
        pytorch_step = [0.01 * gi / (ri.sqrt() + 1e-2) for gi, ri in zip(g, r)]
        lecture_step = [0.01 * gi / (1e-2 + ri).sqrt() for gi, ri in zip(g, r)]
        assert fc.step_max == pytest.approx(max(float(d.abs().max()) for d in pytorch_step), rel=1e-4)
        assert fc.step_max != pytest.approx(max(float(d.abs().max()) for d in lecture_step), rel=1e-3)


def test_adagrad_accumulates_squared_gradients_and_sgd_reports_momentum():
    design, model, images, labels = _toy()
    optimizer = make_optimizer(model, TrainingSettings(optimizer="adagrad", learning_rate=0.1))
    index = ParameterIndex.from_model(model, layer_names(design.layers))
    total = [torch.zeros_like(p).double() for p in model.parameters()]
    for _ in range(3):
        g = [x.double() for x in _grads(model, images, labels)]
        before = [p.detach().clone() for p in index.params]
        optimizer.step()
        _, (fc,) = collect_stats(optimizer, index, before).materialise()
        total = [t + gi * gi for t, gi in zip(total, g)]
        assert fc.values["accumulator"] == pytest.approx(_norm(total), rel=1e-5)

    design, model, images, labels = _toy()
    optimizer = make_optimizer(model, TrainingSettings(optimizer="sgd", learning_rate=0.1, momentum=0.5))
    index = ParameterIndex.from_model(model, layer_names(design.layers))
    buffer = None
    for _ in range(3):
        g = [x.double() for x in _grads(model, images, labels)]
        before = [p.detach().clone() for p in index.params]
        optimizer.step()
        _, (fc,) = collect_stats(optimizer, index, before).materialise()
        buffer = g if buffer is None else [0.5 * b + gi for b, gi in zip(buffer, g)]
        assert fc.values["momentum"] == pytest.approx(_norm(buffer), rel=1e-5)


def test_l2_penalty_is_lambda_times_squared_norm_on_weights_only():
    """weight_decay = 2 lambda gives the gradient of lambda * ||W||^2; biases are not penalised."""
    design, model, images, labels = _toy()
    lam = 0.3
    optimizer = make_optimizer(model, TrainingSettings(optimizer="sgd", learning_rate=0.1, momentum=0, l2_penalty=lam))
    weight, bias = model.fc1.weight, model.fc1.bias
    w0, b0 = weight.detach().clone(), bias.detach().clone()
    g_w, g_b = _grads(model, images, labels)
    optimizer.step()
    torch.testing.assert_close(weight.detach(), w0 - 0.1 * (g_w + 2 * lam * w0))
    torch.testing.assert_close(bias.detach(), b0 - 0.1 * g_b)
