"""Dropout inference lab: weight scaling against Monte Carlo dropout as T grows (eq. 22-24).

Dropout trains the average loss over masks R (eq. 20). To predict, the
lecture's heuristic replaces R by its mean (eq. 22, "weight scaling"), which
swaps an expectation and a nonlinear function: the prediction objective
(eq. 23) is not the trained one (eq. 24). Monte Carlo dropout keeps the masks
random and averages the softmax over T masks, an unbiased estimate of
E_R[f(X, R; theta)] whose error falls as 1 / sqrt(T).

:func:`dropout_inference_curve` scores both rules (accuracy, negative
log-likelihood and expected calibration error, with reliability-diagram data)
for every T, and lists the images where the two rules disagree most. Both rules
come from :func:`core.training.evaluation.predict_probabilities`, so batch
normalisation uses its running statistics in both, as at test time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from convstudio.core.lab.common import Progress, ShouldStop, advance
from convstudio.core.training.evaluation import has_dropout, predict_probabilities

ECE_BINS = 15


@dataclass(frozen=True)
class Reliability:
    """Reliability-diagram data: confidence (largest probability) in equal bins over [0, 1]."""

    bin_edges: tuple[float, ...]  # ECE_BINS + 1 edges
    confidence: tuple[float, ...]  # mean confidence of the images in each bin (nan when empty)
    accuracy: tuple[float, ...]  # share of them classified correctly (nan when empty)
    counts: tuple[int, ...]


@dataclass(frozen=True)
class RuleScore:
    """How well one prediction rule does on the images."""

    rule: str  # "weight scaling" or "Monte Carlo"
    samples: int  # T; 0 for weight scaling
    accuracy: float
    nll: float  # mean -log p(true class)
    ece: float  # expected calibration error: sum over bins of (count / N) |accuracy - confidence|
    reliability: Reliability


@dataclass(frozen=True)
class Disagreement:
    """One image on which the two rules differ, at the largest T."""

    index: int  # position in the images given (the test split's order)
    label: int
    weight_scaling: tuple[float, ...]  # predicted class probabilities
    monte_carlo: tuple[float, ...]
    distance: float  # total variation 1/2 sum_k |p_k - q_k|, in [0, 1]
    monte_carlo_entropy: float  # predictive entropy -sum q log q of the Monte Carlo average, in nats


@dataclass(frozen=True)
class DropoutLabReport:
    """Both rules on the same images; ``monte_carlo[i]`` is T = ``samples[i]``."""

    has_dropout: bool  # False: the rules coincide, there is nothing to sample
    image_count: int
    samples: tuple[int, ...]
    weight_scaling: RuleScore
    monte_carlo: tuple[RuleScore, ...]
    disagreements: tuple[Disagreement, ...]  # most different first
    seconds: float


def calibration(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> tuple[float, Reliability]:
    """Expected calibration error and the reliability diagram of predicted ``probabilities``."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / counts
        accuracy = np.bincount(which, weights=correct.astype(float), minlength=bins) / counts
    filled = counts > 0
    ece = float(np.sum(counts[filled] / len(labels) * np.abs(accuracy[filled] - mean_confidence[filled])))
    return ece, Reliability(tuple(edges.tolist()), tuple(mean_confidence.tolist()), tuple(accuracy.tolist()),
                            tuple(int(c) for c in counts))


def score(rule: str, samples: int, probabilities: np.ndarray, labels: np.ndarray) -> RuleScore:
    """Accuracy, NLL and ECE of one rule's probabilities."""
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, None)
    ece, reliability = calibration(probabilities, labels)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
    return RuleScore(rule, samples, accuracy, float(-np.log(picked).mean()), ece, reliability)


def _chunks(images: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    return [images[start:start + batch_size] for start in range(0, len(images), batch_size)]


def weight_scaling_probabilities(model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """Eq. (22): every mask R replaced by its mean (PyTorch's evaluation mode), as an N x K array."""
    return torch.cat([predict_probabilities(model, chunk, 0).cpu() for chunk in _chunks(images, batch_size)]).numpy()


def monte_carlo_probabilities(model: nn.Module, images: torch.Tensor, sample_counts: Sequence[int], seed: int = 0,
                              batch_size: int = 500, *, progress: Progress | None = None,
                              should_stop: ShouldStop | None = None) -> dict[int, np.ndarray]:
    """The Monte Carlo average of the softmax over the first T masks, for every T in ``sample_counts``.

    One sequence of masks is drawn (seeded by ``seed``; the caller's random
    state is left alone) and its running mean read off at each T, so the
    estimates for growing T are nested, as a convergence plot needs.
    """
    counts = sorted({int(t) for t in sample_counts if t >= 1})
    chunks = _chunks(images, batch_size)
    devices = [images.device] if images.device.type == "cuda" else []
    total = None
    found: dict[int, np.ndarray] = {}
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for t in range(1, counts[-1] + 1 if counts else 1):
            advance(t - 1, counts[-1], progress, should_stop)
            draw = torch.cat([predict_probabilities(model, chunk, 1).cpu() for chunk in chunks]).double()
            total = draw if total is None else total + draw
            if t in counts:
                found[t] = (total / t).numpy()
    return found


def _entropy(q: np.ndarray) -> float:
    q = np.clip(q, 1e-12, 1.0)
    return float(-(q * np.log(q)).sum())


def dropout_inference_curve(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                            sample_counts: Sequence[int] = (1, 2, 5, 10, 20, 50), seed: int = 0,
                            disagreements: int = 12, batch_size: int = 500, *, progress: Progress | None = None,
                            should_stop: ShouldStop | None = None) -> DropoutLabReport:
    """Weight scaling and Monte Carlo dropout with each T on ``images`` (normalised as for training)."""
    started = time.perf_counter()
    labels_np = labels.cpu().numpy().astype(int)
    ws = weight_scaling_probabilities(model, images, batch_size)
    mc = monte_carlo_probabilities(model, images, sample_counts, seed, batch_size, progress=progress,
                                   should_stop=should_stop)
    samples = tuple(sorted(mc))
    largest = mc[samples[-1]] if samples else ws
    distance = 0.5 * np.abs(ws - largest).sum(axis=1)
    order = np.argsort(-distance, kind="stable")[:disagreements]
    listed = tuple(Disagreement(int(i), int(labels_np[i]), tuple(ws[i].tolist()), tuple(largest[i].tolist()),
                                float(distance[i]), _entropy(largest[i])) for i in order)
    return DropoutLabReport(has_dropout(model), len(labels_np), samples, score("weight scaling", 0, ws, labels_np),
                            tuple(score("Monte Carlo", t, mc[t], labels_np) for t in samples), listed,
                            time.perf_counter() - started)


def summary_lines(report: DropoutLabReport) -> list[str]:
    """The report as a plain-text table (the CLI prints it)."""
    lines = [f"{'rule':<16}{'T':>5}{'accuracy':>10}{'NLL':>9}{'ECE':>8}"]
    for row in (report.weight_scaling, *report.monte_carlo):
        lines.append(f"{row.rule:<16}{row.samples if row.samples else '-':>5}{row.accuracy:>10.4f}"
                     f"{row.nll:>9.4f}{row.ece:>8.4f}")
    if report.disagreements:
        lines.append("")
        lines.append(f"images where the rules disagree most (T = {report.samples[-1] if report.samples else 0}):")
        for d in report.disagreements[:5]:
            lines.append(f"  #{d.index}: label {d.label}, weight scaling says {int(np.argmax(d.weight_scaling))} "
                         f"({max(d.weight_scaling):.2f}), Monte Carlo says {int(np.argmax(d.monte_carlo))} "
                         f"({max(d.monte_carlo):.2f}), distance {d.distance:.3f}, "
                         f"entropy {d.monte_carlo_entropy:.3f} nats (max {math.log(len(d.monte_carlo)):.3f})")
    return lines
