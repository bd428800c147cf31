"""Evaluation, and prediction with dropout both ways (eq. 22-24).

Weight scaling (eq. 22) replaces each dropout mask R by its mean, the keep
probability. PyTorch trains with *inverted* dropout (kept units are divided by
the keep probability during training), so plain evaluation mode computes exactly
the lecture's weight-scaling prediction of the network it trained.

Monte Carlo dropout instead averages the softmax over T sampled masks, an
unbiased estimate of E_R[f(X, R; theta)], the model dropout actually trains.
Batch normalisation stays in evaluation mode (running statistics) for both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from convstudio.core.training.records import DropoutComparison


@dataclass(frozen=True)
class Evaluation:
    """Loss, accuracy and confusion matrix of a model on a dataset split."""

    loss: float
    accuracy: float
    confusion: tuple[tuple[int, ...], ...]


def _logits(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    return model.logits(images) if hasattr(model, "logits") else model(images)


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], num_classes: int,
             autocast=None, shard: tuple[int, int] = (0, 1), reduce=None) -> Evaluation:
    """Mean cross-entropy, accuracy and confusion matrix in evaluation mode.

    With several processes, each evaluates ``images[rank::world]`` of every
    batch (``shard``) and ``reduce`` sums the totals over processes.
    """
    was_training = model.training
    model.eval()
    total_loss = None
    confusion = None
    rank, world = shard
    for images, labels in batches:
        images, labels = images[rank::world], labels[rank::world]
        if autocast is not None:
            with autocast():
                logits = _logits(model, images)
        else:
            logits = _logits(model, images)
        loss = F.cross_entropy(logits.float(), labels, reduction="sum")
        total_loss = loss if total_loss is None else total_loss + loss
        pairs = labels * num_classes + logits.argmax(dim=1)
        counts = torch.bincount(pairs, minlength=num_classes * num_classes)
        confusion = counts if confusion is None else confusion + counts
    model.train(was_training)
    if confusion is None:
        return Evaluation(float("nan"), float("nan"), ())
    totals = torch.cat([total_loss.double().view(1), confusion.double()])
    if reduce is not None:
        totals = reduce(totals)
    values = totals.tolist()
    matrix = [[int(v) for v in values[1 + row * num_classes: 1 + (row + 1) * num_classes]]
              for row in range(num_classes)]
    count = sum(map(sum, matrix))
    correct = sum(matrix[i][i] for i in range(num_classes))
    return Evaluation(values[0] / count, correct / count, tuple(tuple(row) for row in matrix))


def _set_dropout_sampling(model: nn.Module, sampling: bool) -> None:
    for module in model.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.train(sampling)


def has_dropout(model: nn.Module) -> bool:
    """True when the model holds a dropout layer with p > 0."""
    return any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in model.modules())


@torch.no_grad()
def predict_probabilities(model: nn.Module, images: torch.Tensor, samples: int = 0) -> torch.Tensor:
    """Class probabilities: weight scaling with ``samples=0``, else Monte Carlo over ``samples`` masks."""
    was_training = model.training
    model.eval()
    try:
        if samples <= 0:
            return F.softmax(_logits(model, images).float(), dim=1)
        _set_dropout_sampling(model, True)
        total = F.softmax(_logits(model, images).float(), dim=1)
        for _ in range(samples - 1):
            total += F.softmax(_logits(model, images).float(), dim=1)
        return total / samples
    finally:
        _set_dropout_sampling(model, False)
        model.train(was_training)


@torch.no_grad()
def compare_dropout_rules(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                          samples: int) -> DropoutComparison:
    """Accuracy and negative log-likelihood of weight scaling and of MC dropout with T = ``samples``."""
    totals = {"ws_correct": 0, "ws_nll": 0.0, "mc_correct": 0, "mc_nll": 0.0, "count": 0}
    for images, labels in batches:
        for prefix, count in (("ws", 0), ("mc", samples)):
            probabilities = predict_probabilities(model, images, count)
            picked = probabilities.gather(1, labels[:, None]).squeeze(1).clamp_min(1e-12)
            totals[f"{prefix}_nll"] += float(-picked.log().sum())
            totals[f"{prefix}_correct"] += int((probabilities.argmax(1) == labels).sum())
        totals["count"] += labels.numel()
    n = max(totals["count"], 1)
    return DropoutComparison(totals["ws_correct"] / n, totals["ws_nll"] / n,
                             totals["mc_correct"] / n, totals["mc_nll"] / n, samples)
