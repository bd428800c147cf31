"""Finite-difference gradient check of a design (lecture eq. 1-2).

The lecture approximates one partial derivative of the loss g = rho(f(x; theta), y)
by moving one parameter v (an entry K_{i,j,p} of some filter) and holding all
others, z, fixed (eq. 1-2)::

    dg/dv ~ (g(v + Delta, z) - g(v, z)) / Delta          forward difference
    dg/dv ~ (g(v + Delta, z) - g(v - Delta, z)) / 2Delta  central difference

Autograd's gradient is compared with both for a sample of entries of every
parameter tensor. For g to be a function of theta alone, everything random is
frozen: the batch is drawn once, and each dropout layer draws its mask R
(eq. 18) once and reuses it. Batch normalisation stays in training mode: it
normalises with the batch's own mean and variance (eq. 35-37), a deterministic
function of the batch, and both evaluations run the same code.

Everything runs in float64 on the CPU. The forward difference's error is
truncation ~ Delta |g''| / 2 plus round-off ~ eps |g| / Delta; the central
difference's truncation falls as Delta^2 instead, so it is the sharper test.
:func:`error_vs_delta` draws both against Delta.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from convstudio.core.design import Design
from convstudio.core.lab.common import Progress, ShouldStop, advance
from convstudio.core.lab.frozen_loss import FrozenLoss

CENTRAL_TOLERANCE = 1e-5
"""A layer passes when every sampled entry's central-difference relative error is below this...

Measured at Delta = 1e-6 over every preset and several seeds, correct layers stay below 1e-6 (central)
and 2e-4 (forward); a wrong backward gives errors of order 0.1 to 1. Both tolerances keep a tenfold margin."""
FORWARD_TOLERANCE = 1e-3
"""...and every forward-difference relative error below this (its truncation is O(Delta), not O(Delta^2))."""
FLOOR_FRACTION = 1e-2
"""The relative error's denominator never drops below this fraction of the model's largest gradient entry.

Round-off makes every finite difference uncertain by about the same absolute amount (the rounding
error of g divided by Delta), whatever the entry. Entries a hundred times smaller than the largest
gradient are therefore compared absolutely, on the scale of the model's gradients, instead of
relative to their own tiny (or zero) value."""


def relative_error(exact: float, approximate: float, floor: float = 0.0) -> float:
    """|a - b| / max(|a|, |b|, floor): relative for normal gradients, absolute for tiny ones."""
    return abs(exact - approximate) / max(abs(exact), abs(approximate), floor, 1e-300)


@dataclass(frozen=True)
class EntryCheck:
    """One sampled parameter entry v: autograd against the two difference quotients."""

    layer: str  # design layer name, e.g. "conv1"
    parameter: str  # state_dict key, e.g. "conv1.weight"
    index: tuple[int, ...]  # position of v inside the parameter tensor
    autograd: float
    forward: float  # (g(v + Delta) - g(v)) / Delta
    central: float  # (g(v + Delta) - g(v - Delta)) / (2 Delta)
    forward_error: float  # relative_error(autograd, forward)
    central_error: float
    kink: bool = False  # the step crossed a ReLU kink or a max-pooling switch: not counted


@dataclass(frozen=True)
class LayerCheck:
    """The verdict for one design layer: the worst relative errors over its sampled entries."""

    layer: str
    kind: str  # the design layer's kind ("conv2d", "batchnorm", ...)
    parameters: tuple[str, ...]  # state_dict keys checked
    entries: int  # sampled smooth entries over all its parameters (counted in the verdict)
    kinks: int  # sampled entries whose step crossed a kink (shown, not counted)
    max_forward_error: float
    max_central_error: float
    passed: bool  # max_central_error < central_tolerance and max_forward_error < forward_tolerance


@dataclass(frozen=True)
class GradCheckReport:
    """The gradient check of a whole design: one row per layer with parameters, and every entry."""

    design_name: str
    delta: float
    batch_size: int
    loss: float  # g at the unperturbed parameters
    error_floor: float  # FLOOR_FRACTION * the largest |gradient| entry: smallest denominator of the errors
    central_tolerance: float
    forward_tolerance: float
    layers: tuple[LayerCheck, ...]
    entries: tuple[EntryCheck, ...]
    seconds: float

    @property
    def passed(self) -> bool:
        """True when every layer passed."""
        return all(layer.passed for layer in self.layers)

    @property
    def failed_layers(self) -> tuple[str, ...]:
        return tuple(layer.layer for layer in self.layers if not layer.passed)


@dataclass(frozen=True)
class DeltaCurve:
    """Relative error of both difference quotients for one entry, against Delta (log-log plot)."""

    layer: str
    parameter: str
    index: tuple[int, ...]
    autograd: float
    deltas: tuple[float, ...]
    forward_errors: tuple[float, ...]
    central_errors: tuple[float, ...]
    kinks: tuple[bool, ...]  # whether the step Delta crossed a kink (expected for large Delta)
    best_forward_delta: float  # the Delta with the smallest forward error: mark it on the plot
    best_central_delta: float

    @property
    def best_forward_error(self) -> float:
        return min(self.forward_errors)

    @property
    def best_central_error(self) -> float:
        return min(self.central_errors)


def _error_floor(gradients: dict[str, torch.Tensor]) -> float:
    return FLOOR_FRACTION * max(float(g.abs().max()) for g in gradients.values())


def _sample_entries(problem: FrozenLoss, entries_per_tensor: int, seed: int):
    """Per tensor, a random order of its entries and how many smooth ones to check."""
    sampler = torch.Generator().manual_seed(seed + 1)
    plan = []
    for name, tensor in problem.parameters:
        order = torch.randperm(tensor.numel(), generator=sampler)[: 3 * entries_per_tensor].tolist()
        plan.append((name, order, min(entries_per_tensor, tensor.numel())))
    return plan


def gradient_check(design: Design, batch_size: int = 4, entries_per_tensor: int = 8, delta: float = 1e-6,
                   seed: int = 0, *, model: nn.Module | None = None,
                   central_tolerance: float = CENTRAL_TOLERANCE, forward_tolerance: float = FORWARD_TOLERANCE,
                   progress: Progress | None = None, should_stop: ShouldStop | None = None) -> GradCheckReport:
    """Check autograd against eq. (1)'s finite differences on ``entries_per_tensor`` entries per tensor.

    An entry whose step +-Delta crosses a kink (a ReLU input changing sign, a
    max-pooling window changing its pick) is recorded with ``kink=True``, left
    out of the verdict, and replaced by another entry of the same tensor (up to
    three times as many tries as entries). ``model`` replaces the model built
    from ``design`` (it must be the built ``nn.Sequential``; a float64 copy is
    checked, the caller's model is left alone).
    """
    started = time.perf_counter()
    problem = FrozenLoss(design, model, batch_size, seed)
    gradients = problem.autograd()
    g0, _ = problem.loss_from(0, check_kinks=False)
    floor = _error_floor(gradients)
    plan = _sample_entries(problem, entries_per_tensor, seed)
    total = sum(wanted for _, _, wanted in plan)
    entries: list[EntryCheck] = []
    done = 0
    for name, order, wanted in plan:
        shape = tuple(gradients[name].shape)
        smooth = 0
        for flat_index in order:
            if smooth == wanted:
                break
            advance(done, total, progress, should_stop)
            exact = float(gradients[name].view(-1)[flat_index])
            forward, central, kink = problem.quotients(name, flat_index, delta, g0)
            index = tuple(int(i) for i in np.unravel_index(flat_index, shape))
            entries.append(EntryCheck(problem.layer_for(name)[0], name, index, exact, forward, central,
                                      relative_error(exact, forward, floor), relative_error(exact, central, floor),
                                      kink))
            if not kink:
                smooth += 1
                done += 1
    advance(total, total, progress, None)
    layers = []
    for layer, kind in dict.fromkeys(problem.layer_for(name) for name, _ in problem.parameters):
        mine = [entry for entry in entries if entry.layer == layer]
        counted = [entry for entry in mine if not entry.kink]
        worst_forward = max((entry.forward_error for entry in counted), default=float("nan"))
        worst_central = max((entry.central_error for entry in counted), default=float("nan"))
        passed = bool(counted) and worst_central < central_tolerance and worst_forward < forward_tolerance
        layers.append(LayerCheck(layer, kind, tuple(dict.fromkeys(entry.parameter for entry in mine)), len(counted),
                                 len(mine) - len(counted), worst_forward, worst_central, passed))
    return GradCheckReport(design.name, delta, batch_size, g0, floor, central_tolerance, forward_tolerance,
                           tuple(layers), tuple(entries), time.perf_counter() - started)


def error_vs_delta(design: Design, deltas=None, parameter: str | None = None, index: tuple[int, ...] | None = None,
                   batch_size: int = 4, seed: int = 0, *, model: nn.Module | None = None) -> DeltaCurve:
    """Relative error of the forward and central differences for one entry over a range of Delta.

    Large Delta: truncation error (forward ~ Delta, central ~ Delta^2), and
    perhaps a kink crossed. Small Delta: round-off, ~ eps |g| / Delta, as
    g(v + Delta) - g(v) loses its digits. The best Delta lies between (about
    sqrt(eps) ~ 1e-8 for the forward difference in float64). By default the
    entry is the one with the largest gradient in the first parameter tensor,
    so that the curve is not drowned by the round-off of a tiny gradient.
    """
    deltas = np.logspace(-14, -1, 27) if deltas is None else np.asarray(deltas, dtype=float)
    problem = FrozenLoss(design, model, batch_size, seed)
    gradients = problem.autograd()
    parameter = parameter or problem.parameters[0][0]
    gradient = gradients[parameter]
    if index is None:
        flat_index = int(gradient.abs().view(-1).argmax())
        index = tuple(int(i) for i in np.unravel_index(flat_index, tuple(gradient.shape)))
    else:
        flat_index = int(np.ravel_multi_index(index, tuple(gradient.shape)))
    exact = float(gradient.view(-1)[flat_index])
    floor = _error_floor(gradients)
    g0, _ = problem.loss_from(0, check_kinks=False)
    forward_errors, central_errors, kinks = [], [], []
    for delta in deltas:
        forward, central, kink = problem.quotients(parameter, flat_index, float(delta), g0)
        forward_errors.append(relative_error(exact, forward, floor))
        central_errors.append(relative_error(exact, central, floor))
        kinks.append(kink)
    return DeltaCurve(problem.layer_for(parameter)[0], parameter, tuple(index), exact,
                      tuple(float(d) for d in deltas), tuple(forward_errors), tuple(central_errors), tuple(kinks),
                      float(deltas[int(np.argmin(forward_errors))]), float(deltas[int(np.argmin(central_errors))]))
