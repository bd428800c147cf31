"""The optimizer's own state per layer, named as the lecture names it.

Collected every N steps, not every step: the work is a handful of fused
``torch._foreach_*`` kernels, and the results stay on the device as one stacked
tensor until the engine next reads its losses back, so collecting adds no host
synchronisation of its own.

PyTorch and the lecture agree on Adam (eq. 39): s and r are ``exp_avg`` and
``exp_avg_sq``, and the step is eta * s_hat / (delta + sqrt(r_hat)). They differ
on RMSprop (eq. 38): the lecture divides by sqrt(delta + r), PyTorch by
sqrt(r) + delta. The r reported is the same; the step shown is PyTorch's, the
one actually taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from convstudio.core.training.optimizer_names import BIAS_CORRECTED, STATE_KEYS
from convstudio.core.training.records import LayerStat, OptimizerLayerState


@dataclass
class ParameterIndex:
    """Trainable parameters in a fixed order, with the design layer each belongs to."""

    layers: list[str]  # design layer names, in order
    params: list[torch.nn.Parameter]
    layer_of: list[int]  # index into ``layers`` for each parameter

    @classmethod
    def from_model(cls, model: torch.nn.Module, layer_names: list[str]) -> "ParameterIndex":
        """Group a DesignNet's trainable parameters by the design layer that made them.

        Layers inside blocks count on their own (``res1.body.conv1``), so the
        per-layer charts show each convolution of a residual block.
        """
        layers: list[str] = []
        params: list[torch.nn.Parameter] = []
        layer_of: list[int] = []
        units = getattr(model, "units", None)
        pairs = ([(unit.name, unit.modules) for unit in units if not unit.is_block] if units
                 else zip(layer_names, model.layer_modules))
        for layer_name, module_names in pairs:
            own = [p for name in module_names for p in model.get_submodule(name).parameters() if p.requires_grad]
            if not own:
                continue
            layers.append(layer_name)
            params.extend(own)
            layer_of.extend([len(layers) - 1] * len(own))
        return cls(layers, params, layer_of)


@dataclass
class PendingStats:
    """Statistics computed on the device, not yet read back to the host."""

    layers: list[str]
    quantity_names: list[str]  # optimizer quantities, e.g. ["s", "r", "s_hat", "r_hat"]
    table: torch.Tensor  # rows: layers; columns: grad, weight, update, step_mean, step_max, quantities...

    def materialise(self) -> tuple[tuple[LayerStat, ...], tuple[OptimizerLayerState, ...]]:
        """Read the numbers back (one transfer) and wrap them as records."""
        rows = self.table.tolist()
        stats = []
        states = []
        for layer, row in zip(self.layers, rows):
            grad, weight, update, step_mean, step_max, *quantities = row
            stats.append(LayerStat(layer, grad, weight, update / weight if weight > 0 else 0.0))
            states.append(OptimizerLayerState(layer, dict(zip(self.quantity_names, quantities)), step_mean, step_max))
        return tuple(stats), tuple(states)


def _per_layer_norm(norms: list[torch.Tensor], index: ParameterIndex, device) -> torch.Tensor:
    """Combine per-tensor norms into per-layer norms: sqrt of the sum of squares."""
    squares = torch.stack(norms).float() ** 2
    layer_ids = torch.tensor(index.layer_of, device=device)
    totals = torch.zeros(len(index.layers), device=device).index_add_(0, layer_ids, squares)
    return totals.sqrt()


@torch.no_grad()
def collect_stats(optimizer: torch.optim.Optimizer, index: ParameterIndex,
                  before_step: list[torch.Tensor]) -> PendingStats:
    """Per-layer gradient norms, update-to-weight ratios and optimizer state after a step.

    ``before_step`` holds copies of the parameters taken just before the step.
    """
    params = index.params
    device = params[0].device
    zeros = [torch.zeros((), device=device)] * len(params)
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    grad_norms = _per_layer_norm(torch._foreach_norm(grads), index, device)
    weight_norms = _per_layer_norm(torch._foreach_norm(params), index, device)
    deltas = torch._foreach_sub([p.detach() for p in params], before_step)
    update_norms = _per_layer_norm(torch._foreach_norm(deltas), index, device)
    abs_deltas = torch._foreach_abs(deltas)
    layer_ids = torch.tensor(index.layer_of, device=device)
    sums = torch.stack([d.sum() for d in abs_deltas]).float()
    counts = torch.tensor([float(p.numel()) for p in params], device=device)
    maxima = torch.stack([d.amax() for d in abs_deltas]).float()
    n_layers = len(index.layers)
    step_mean = (torch.zeros(n_layers, device=device).index_add_(0, layer_ids, sums)
                 / torch.zeros(n_layers, device=device).index_add_(0, layer_ids, counts))
    step_max = torch.zeros(n_layers, device=device).scatter_reduce_(0, layer_ids, maxima, reduce="amax")

    kind = type(optimizer).__name__.lower()  # the settings' name: Adam -> adam
    keys = STATE_KEYS.get(kind, {})
    names: list[str] = []
    columns = [grad_norms, weight_norms, update_norms, step_mean, step_max]
    for lecture_name, state_key in keys.items():
        tensors = [optimizer.state.get(p, {}).get(state_key) for p in params]
        tensors = [t if t is not None else zero for t, zero in zip(tensors, zeros)]
        names.append(lecture_name)
        columns.append(_per_layer_norm(torch._foreach_norm(tensors), index, device))
    if kind in BIAS_CORRECTED:
        # Adam's bias correction (eq. 39): s_hat = s / (1 - rho1^k), r_hat = r / (1 - rho2^k);
        # norms scale by the same factors, so no extra tensors are needed.
        beta1, beta2 = optimizer.param_groups[0]["betas"]
        step = optimizer.state.get(params[0], {}).get("step")
        k = float(step) if step is not None else 0.0
        if k > 0:
            names += list(BIAS_CORRECTED[kind])
            columns += [columns[5] / (1 - beta1 ** k), columns[6] / (1 - beta2 ** k)]
    return PendingStats(index.layers, names, torch.stack(columns, dim=1))
