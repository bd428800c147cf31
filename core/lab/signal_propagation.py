"""Initialisation and signal propagation: the mean and variance of Z and H per layer (eq. 27-31).

The lecture draws W_ij = C / sqrt(d) U_ij (eq. 27). If the inputs H_j of a
layer have mean 0 and variance 1 and C = 1, then Z_i = sum_j W_ij H_j has
E[Z_i] = 0 and Var[Z_i] = 1 (eq. 28-29). The algebra behind it holds for any
input: Var[Z_i] = d Var[W] E[H^2] (+ Var[b]); the claim Var[Z] = 1 needs the
input's second moment E[H^2] to be 1. With tanh and "small" Z the network is
nearly linear, H ~ Z (eq. 30), so the claim carries from layer to layer
(eq. 31); with C = 1, Z is not small (tanh shrinks a unit-variance Z to a
variance of about 0.39), and with ReLU E[H^2] = Var[Z] / 2: the variance falls
layer by layer. Batch normalisation (eq. 35-37) resets it to 1 whatever came before.

:func:`signal_propagation` pushes one batch through a freshly initialised
design and records, for every convolution or linear output (kind ``Z``),
batch-norm output (``BN``), activation output (``H``) and pooling output
(``pool``), the mean and variance of the values and of the gradient of the loss
flowing back to them. Batch normalisation uses the batch's statistics, as in
training; dropout is off, so that only the initialisation acts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from convstudio.core.builder import build_model
from convstudio.core.design import Design
from convstudio.core.initialisation import INIT_SCHEMES, fan_in
from convstudio.core.lab.common import Progress, ShouldStop, advance, data_generator, module_owners, owner_of
from convstudio.core.lab.design_edits import without_batch_norm

VARIANCE_BAND = (0.8, 1.25)
"""Var[Z] within this band counts as the lecture's Var[Z] = 1 (eq. 29, 31) holding."""
MEAN_BAND = 0.1
"""|E[H]| below this counts as "mean zero", the lecture's assumption on a layer's input."""

_ACTIVATIONS = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.ELU, nn.GELU, nn.Identity)
_POOLS = (nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool2d, nn.AvgPool3d)
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@dataclass(frozen=True)
class SignalRow:
    """Statistics of one module's output at initialisation, forward and backward."""

    layer: str  # design layer name ("conv1")
    module: str  # module name ("conv1", "conv1_tanh", "bn1")
    kind: str  # "Z" convolution/linear output, "BN" batch-norm output, "H" activation output, "pool"
    mean: float  # E[output] over the batch and all units
    variance: float  # Var[output]
    grad_mean: float  # E[dLoss/d output]; the loss is the batch's summed cross-entropy
    grad_variance: float  # Var[dLoss/d output]: how the gradient signal shrinks or grows going back
    input_mean: float  # E[input] of the module: the lecture assumes 0 for Z rows
    input_second_moment: float  # E[input^2]: Var[Z] = d Var[W] E[H^2] needs it
    fan_in: int | None = None  # Z rows: d^(l-1), inputs per unit
    predicted_variance: float | None = None  # Z rows: d * mean(W^2) * E[H_in^2] + mean(b^2) (eq. 28);
    # zero padding lowers the actual variance at the borders, which this prediction ignores
    claim_holds: bool | None = None  # Z rows: Var[Z] within VARIANCE_BAND (eq. 29 / 31)
    assumption_holds: bool | None = None  # Z rows: input mean ~ 0 and variance within VARIANCE_BAND
    linearisation_error: float | None = None  # H rows: sqrt(E[(H - Z)^2] / E[Z^2]), 0 when H = Z (eq. 30)


@dataclass(frozen=True)
class PropagationReport:
    """One initialisation scheme pushed through one design."""

    design_name: str
    scheme: str
    gain: float  # C in eq. (27)
    batch_norm: bool  # False: the design's batch-norm layers were removed
    inputs: str  # "standard normal" or "data"
    batch_size: int
    rows: tuple[SignalRow, ...]
    seconds: float

    def of_kind(self, kind: str) -> tuple[SignalRow, ...]:
        """The rows of one kind, in network order ("Z", "BN", "H" or "pool")."""
        return tuple(row for row in self.rows if row.kind == kind)

    @property
    def z_variances(self) -> tuple[float, ...]:
        """Var[Z] of every convolution and linear layer, first to last."""
        return tuple(row.variance for row in self.of_kind("Z"))


def _kind(module: nn.Module) -> str | None:
    if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.Linear)):
        return "Z"
    if isinstance(module, _BATCH_NORMS):
        return "BN"
    if isinstance(module, _ACTIVATIONS):
        return "H"
    if isinstance(module, _POOLS):
        return "pool"
    return None  # flatten, dropout, softmax: nothing to see


def _in_band(value: float) -> bool:
    return VARIANCE_BAND[0] <= value <= VARIANCE_BAND[1]


def _row(layer: str, name: str, module: nn.Module, kind: str, x: torch.Tensor, y: torch.Tensor,
         grad: torch.Tensor | None) -> SignalRow:
    x, y = x.detach().double(), y.detach().double()
    g = grad.double() if grad is not None else torch.full((1,), float("nan"), dtype=torch.float64)
    extra: dict = {}
    if kind == "Z":
        d = fan_in(module.weight)
        bias = float(module.bias.detach().double().pow(2).mean()) if module.bias is not None else 0.0
        variance = float(y.var())
        extra = dict(fan_in=d, claim_holds=_in_band(variance),
                     predicted_variance=d * float(module.weight.detach().double().pow(2).mean())
                     * float(x.pow(2).mean()) + bias,
                     assumption_holds=abs(float(x.mean())) < MEAN_BAND and _in_band(float(x.var())))
    elif kind == "H":
        extra = dict(linearisation_error=float(((y - x).pow(2).mean() / x.pow(2).mean().clamp_min(1e-30)).sqrt()))
    return SignalRow(layer, name, kind, float(y.mean()), float(y.var()), float(g.mean()),
                     float(g.var()) if g.numel() > 1 else float("nan"), float(x.mean()), float(x.pow(2).mean()),
                     **extra)


def signal_propagation(design: Design, scheme: str = "lecture_normal", gain: float = 1.0, batch_norm: bool = True,
                       inputs: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                       batch_size: int = 256, seed: int = 0) -> PropagationReport:
    """Initialise ``design`` with ``scheme`` (gain C) and record mean and variance per module.

    ``inputs`` are images already normalised as training would (e.g. from
    :func:`core.lab.data_access.normalised_images`); by default ``batch_size``
    standard-normal images, the lecture's mean 0, variance 1 input. ``labels``
    (default: random) decide the loss whose gradients flow back.
    ``batch_norm=False`` removes the design's batch-normalisation layers first.
    """
    started = time.perf_counter()
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown initialisation {scheme!r}; choose one of {', '.join(INIT_SCHEMES)}")
    if not batch_norm:
        design = without_batch_norm(design)
    generator = data_generator(seed)
    model = build_model(design, init=scheme, gain=gain, seed=seed).train()
    for module in model.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.eval()
    source = "standard normal" if inputs is None else "data"
    if inputs is None:
        inputs = torch.randn((batch_size, *design.input.shape), generator=generator)
    inputs = inputs.float().cpu()
    labels = labels.cpu() if labels is not None else None
    owners = module_owners(design, model)
    seen: list[tuple[str, nn.Module, str, torch.Tensor, torch.Tensor]] = []
    grads: dict[str, torch.Tensor] = {}

    def hook(name: str, kind: str):
        def record(module, args, output):
            seen.append((name, module, kind, args[0], output))
            if output.requires_grad:
                output.register_hook(lambda g: grads.__setitem__(name, g.detach()))
        return record

    # Every module, those inside blocks too (res1.body.conv1): named_modules lists a block's contents.
    handles = [module.register_forward_hook(hook(name, kind)) for name, module in model.named_modules()
               if name and (kind := _kind(module)) is not None]
    try:
        output = model.logits(inputs)
        if output.dim() == 2:
            if labels is None:
                labels = torch.randint(0, output.shape[1], (inputs.shape[0],), generator=generator)
            loss = F.cross_entropy(output, labels, reduction="sum")
        else:
            loss = (output * torch.randn(output.shape, generator=generator)).sum()
        loss.backward()
    finally:
        for handle in handles:
            handle.remove()
    rows = tuple(_row((owner_of(owners, name) or (name, ""))[0], name, module, kind, x, y, grads.get(name))
                 for name, module, kind, x, y in seen)
    return PropagationReport(design.name, scheme, gain, batch_norm, source,
                             int(inputs.shape[0]), rows, time.perf_counter() - started)


def compare_schemes(design: Design, schemes: Sequence[str] = INIT_SCHEMES, gain: float = 1.0,
                    batch_norm: bool = True, inputs: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                    batch_size: int = 256, seed: int = 0, *, progress: Progress | None = None,
                    should_stop: ShouldStop | None = None) -> tuple[PropagationReport, ...]:
    """:func:`signal_propagation` for every scheme, on the same batch, in order."""
    reports = []
    for done, scheme in enumerate(schemes):
        advance(done, len(schemes), progress, should_stop)
        reports.append(signal_propagation(design, scheme, gain, batch_norm, inputs, labels, batch_size, seed))
    advance(len(schemes), len(schemes), progress, None)
    return tuple(reports)
