"""The lecture's optimizers and learning-rate schedules, from torch.optim.

The L2 penalty lambda * ||theta||^2 has gradient 2 * lambda * theta, which is
exactly what torch.optim's ``weight_decay`` adds to the gradient of SGD,
AdaGrad, RMSprop and Adam; so the penalty costs nothing extra per step. It
applies to convolution and linear weights, not to biases or batch-norm's gamma
and beta. L-BFGS has no weight_decay: the engine adds the penalty to its loss.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from convstudio.core.training.settings import TrainingSettings


def _own_weights(module: nn.Module) -> list[nn.Parameter]:
    return [module.weight] if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.Linear)) else []


def penalised_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Weights the L2 penalty applies to: those of convolutions and linear layers that train."""
    return [w for module in model.modules() for w in _own_weights(module) if w.requires_grad]


def make_optimizer(model: nn.Module, settings: TrainingSettings,
                   transferred: set[int] | frozenset[int] = frozenset()) -> torch.optim.Optimizer:
    """The optimizer the settings name.

    Frozen parameters (requires_grad off) are included but never receive a
    gradient, and torch.optim skips parameters without one; so unfreezing later
    only needs requires_grad back on. ``transferred`` holds the ids of
    parameters that took transferred weights: they train at
    ``transfer_lr_scale`` times the learning rate.
    """
    parameters = list(model.parameters())
    if not any(p.requires_grad for p in parameters):
        raise ValueError("every layer is frozen: nothing to train; freeze fewer layers")
    lr = settings.learning_rate
    penalised_ids = {id(weight) for module in model.modules() for weight in _own_weights(module)}
    decay = 2.0 * settings.l2_penalty
    groups = []
    for is_penalised in (True, False):
        for is_transferred in (False, True):
            members = [p for p in parameters
                       if (id(p) in penalised_ids) == is_penalised and (id(p) in transferred) == is_transferred]
            if members:
                groups.append({"params": members, "weight_decay": decay if is_penalised else 0.0,
                               "lr": lr * (settings.transfer_lr_scale if is_transferred else 1.0)})
    name = settings.optimizer
    if name == "sgd":
        nesterov = settings.nesterov and settings.momentum > 0
        return torch.optim.SGD(groups, lr=lr, momentum=settings.momentum, nesterov=nesterov)
    if name == "adagrad":
        return torch.optim.Adagrad(groups, lr=lr, eps=settings.delta)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, alpha=settings.rho, eps=settings.delta)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=(settings.beta1, settings.beta2), eps=settings.delta)
    if name == "lbfgs":
        # Quasi-Newton (eq. 25-26 with an approximate inverse Hessian). One group only;
        # the strong Wolfe line search keeps mini-batch steps sane.
        trainable = [p for p in parameters if p.requires_grad]
        return torch.optim.LBFGS(trainable, lr=lr, max_iter=1, history_size=10, line_search_fn="strong_wolfe")
    raise ValueError(f"unknown optimizer {name!r}")


def make_scheduler(optimizer: torch.optim.Optimizer, settings: TrainingSettings,
                   batches_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning-rate schedule, stepped once per batch."""
    total_steps = max(1, settings.epochs * batches_per_epoch)
    name = settings.schedule
    if name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if name == "step":
        every = settings.step_epochs * batches_per_epoch
        gamma = settings.step_gamma
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: gamma ** (step // every))
    if name == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps)))
    if name == "one_cycle":
        cycles_momentum = "betas" in optimizer.defaults or optimizer.defaults.get("momentum", 0) > 0
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[group["lr"] for group in optimizer.param_groups], total_steps=total_steps + 1, cycle_momentum=cycles_momentum)
    raise ValueError(f"unknown schedule {name!r}")
