"""The learning-rate range test (Smith 2017): train briefly while the rate grows exponentially.

The rate rises from ``start`` to ``end`` over ``steps`` mini-batches,
``eta_i = start * (end / start) ** (i / (steps - 1))``. The loss is smoothed with
an exponential moving average (bias-corrected, as Adam corrects its moments), and
the test stops early once the smoothed loss passes ``divergence`` times its
lowest value (or stops being finite): beyond that the rate only blows up.

Two rates are suggested: where the smoothed loss falls fastest against log eta
(the steepest descent), and a tenth of the rate at the smoothed loss's minimum
(a rate near the minimum is already too aggressive for a whole run). The
network, optimizer and data are built afresh (or copied, for a model passed
in): weights and optimizer state the caller holds are never touched.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convstudio.core.design import Design
from convstudio.core.lab.common import LabCancelled, Progress, ShouldStop
from convstudio.core.training.settings import TrainingSettings

DEFAULT_START, DEFAULT_END, DEFAULT_STEPS = 1e-7, 10.0, 300
SMOOTHING = 0.98  # beta of the moving average: about the last 50 steps count
DIVERGENCE = 4.0  # stop once the smoothed loss is this many times its lowest value
MEANINGFUL_DROP = 0.02  # a fall of the smoothed loss smaller than 2 % of its start is noise
SKIP_START = 10  # the first points carry little history, even bias-corrected: no suggestion from them


class LrFinderError(ValueError):
    """Options the range test cannot run with, said in one sentence with the fix."""


@dataclass(frozen=True)
class LrSuggestion:
    """The rates the curve suggests (None where the curve is too short to say)."""

    steepest: float | None  # where the smoothed loss falls fastest against log(eta)
    minimum: float | None  # where the smoothed loss is lowest
    tenth_of_minimum: float | None  # minimum / 10

    @property
    def rate(self) -> float | None:
        """The one rate to use: the steepest descent, else a tenth of the minimum."""
        return self.steepest if self.steepest is not None else self.tenth_of_minimum


@dataclass(frozen=True)
class LrFinderResult:
    """The curve of a range test and what it suggests."""

    learning_rates: tuple[float, ...]
    losses: tuple[float, ...]  # the raw mini-batch losses
    smoothed: tuple[float, ...]  # the bias-corrected moving average
    suggestion: LrSuggestion
    start: float
    end: float
    steps: int  # planned
    diverged: bool  # stopped early because the loss blew up
    seconds: float

    def csv_text(self) -> str:
        """``step,learning_rate,loss,smoothed_loss`` with one row per step done."""
        rows = ["step,learning_rate,loss,smoothed_loss"]
        rows += [f"{i + 1},{lr:.6e},{loss:.6g},{smooth:.6g}"
                 for i, (lr, loss, smooth) in enumerate(zip(self.learning_rates, self.losses, self.smoothed))]
        return "\n".join(rows) + "\n"

    def summary(self) -> str:
        """One sentence: the suggestion and how the curve ended."""
        s = self.suggestion
        if s.rate is None:
            return (f"no suggestion: only {len(self.losses)} steps before the loss diverged; "
                    f"lower the start rate ({self.start:g}) or add steps")
        parts = [f"suggested learning rate {s.rate:.2g}"]
        if s.steepest is not None:
            parts.append(f"(steepest descent; a tenth of the minimum's rate: {s.tenth_of_minimum:.2g})")
        ending = (f"the loss diverged at {self.learning_rates[-1]:.2g}" if self.diverged
                  else f"ran all {self.steps} steps up to {self.learning_rates[-1]:.2g}")
        return " ".join(parts) + f"; {ending}"


def rate_schedule(start: float, end: float, steps: int) -> np.ndarray:
    """The ``steps`` rates of the test, from ``start`` to ``end`` evenly on a log scale."""
    return np.geomspace(start, end, steps)


def smooth_losses(losses: Sequence[float], beta: float = SMOOTHING) -> np.ndarray:
    """Exponential moving average of the losses, bias-corrected: ``avg_i / (1 - beta ** (i + 1))``."""
    smoothed, average = [], 0.0
    for i, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta ** (i + 1)))
    return np.asarray(smoothed, dtype=float)


def suggest_rates(learning_rates: Sequence[float], smoothed: Sequence[float],
                  skip_start: int = SKIP_START) -> LrSuggestion:
    """The steepest descent of ``smoothed`` against log(eta) before its minimum, and a tenth of the minimum's rate.

    The slope at each point is taken across a quarter of a decade on either
    side, so that one noisy batch cannot make a cliff. A curve whose loss never
    falls by more than :data:`MEANINGFUL_DROP` of its start has no steepest
    descent (its slopes are noise); a tenth of the minimum's rate stays.
    """
    rates = np.asarray(learning_rates, dtype=float)
    values = np.asarray(smoothed, dtype=float)
    if len(values) < 3 or not np.all(np.isfinite(values)) or np.any(rates <= 0):
        return LrSuggestion(None, None, None)
    lowest = int(np.argmin(values))
    minimum = float(rates[lowest])
    first = min(skip_start, max(lowest - 2, 0))
    drop = values[first:lowest + 1].max() - values[lowest]
    if lowest - first < 2 or drop <= MEANINGFUL_DROP * abs(values[first]):
        return LrSuggestion(None, minimum, minimum / 10)
    logs = np.log10(rates)
    per_decade = (len(rates) - 1) / max(logs[-1] - logs[0], 1e-12)
    half_window = max(1, int(round(per_decade / 4)))
    best_slope, steepest = 0.0, None
    for i in range(first, lowest + 1):
        left, right = max(first, i - half_window), min(lowest, i + half_window)
        if right == left:
            continue
        slope = (values[right] - values[left]) / (logs[right] - logs[left])
        if slope < best_slope:
            best_slope, steepest = slope, float(rates[i])
    return LrSuggestion(steepest, minimum, minimum / 10)


def find_learning_rate(design: Design, settings: TrainingSettings, start: float = DEFAULT_START,
                       end: float = DEFAULT_END, steps: int = DEFAULT_STEPS, *, data=None, model=None,
                       divergence: float = DIVERGENCE, progress: Progress | None = None,
                       should_stop: ShouldStop | None = None,
                       on_points: Callable[[list[tuple[float, float, float]]], None] | None = None) -> LrFinderResult:
    """Run the range test on ``design`` with ``settings`` (its optimizer, batch size, L2 penalty, augmentation...).

    ``data`` (DatasetSplits) is reused when given; ``model`` is copied, never
    trained itself. ``on_points`` receives (rate, loss, smoothed) triples every
    few steps, for a live plot. Raises LrFinderError for unusable options,
    TrainingSetupError for a design or dataset that cannot train, and
    LabCancelled when ``should_stop`` says so.
    """
    import torch
    from torch.nn import functional as F

    from convstudio.core.training.setup import prepare_run

    if not (0 < start < end):
        raise LrFinderError(f"the start rate ({start:g}) must be positive and below the end rate ({end:g})")
    if end > 10:
        raise LrFinderError(f"the end rate ({end:g}) may be at most 10, the largest learning rate a run accepts")
    if steps < 10:
        raise LrFinderError(f"{steps} steps are too few for a curve: use at least 10 (300 is usual)")
    if settings.optimizer == "lbfgs":
        raise LrFinderError("L-BFGS picks its own step by line search, so a range test says nothing about it: "
                            "choose sgd, adagrad, rmsprop or adam for the test")
    started = time.perf_counter()
    # A constant schedule: the test sets the rate itself at every step.
    test_settings = settings.model_copy(update={"learning_rate": start, "schedule": "constant",
                                                "early_stopping": False})
    prepared = prepare_run(design, test_settings, data, copy.deepcopy(model) if model is not None else None)
    net, optimizer = prepared.model, prepared.optimizer
    # Transferred layers keep their learning-rate factor: each group's share of the base rate.
    factors = [group["lr"] / start for group in optimizer.param_groups]
    torch.manual_seed(settings.seed + 1)  # dropout masks, as a run draws them
    net.train()
    rates = rate_schedule(start, end, steps)
    losses: list[float] = []
    smoothed: list[float] = []
    pending: list[tuple[float, float, float]] = []
    average, best, diverged = 0.0, math.inf, False
    batches = _endless(prepared.train_batches)
    for i, rate in enumerate(rates):
        if should_stop is not None and should_stop():
            raise LabCancelled(f"cancelled after {i} of {steps} steps")
        for group, factor in zip(optimizer.param_groups, factors):
            group["lr"] = float(rate) * factor
        images, labels = next(batches)
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(images).float(), labels)
        loss.backward()
        optimizer.step()
        value = float(loss.detach())  # one read-back per step: the stop test needs every value
        average = SMOOTHING * average + (1 - SMOOTHING) * value
        smooth = average / (1 - SMOOTHING ** (i + 1))
        losses.append(value)
        smoothed.append(smooth)
        pending.append((float(rate), value, smooth))
        if progress is not None:
            progress(i + 1, steps)
        if on_points is not None and (len(pending) >= 10 or i == steps - 1):
            on_points(pending)
            pending = []
        if not math.isfinite(smooth) or (i >= SKIP_START and smooth > divergence * best):
            diverged = True
            break
        best = min(best, smooth)
    if on_points is not None and pending:
        on_points(pending)
    # Points past the blow-up would only stretch the plot's axis: keep the finite ones.
    keep = [k for k, value in enumerate(smoothed) if math.isfinite(value) and math.isfinite(losses[k])]
    rates_done = [float(rates[k]) for k in keep]
    raw = [losses[k] for k in keep]
    smooth_kept = [smoothed[k] for k in keep]
    return LrFinderResult(tuple(rates_done), tuple(raw), tuple(smooth_kept), suggest_rates(rates_done, smooth_kept),
                          start, end, steps, diverged, time.perf_counter() - started)


def _endless(batches):
    """Mini-batches from one epoch after another, as long as the test wants them."""
    epoch = 0
    while True:
        yielded = False
        for batch in batches.epoch(epoch):
            yielded = True
            yield batch
        if not yielded:
            return
        epoch += 1


def lr_finder_job(job, design: Design, settings: TrainingSettings, start: float = DEFAULT_START,
                  end: float = DEFAULT_END, steps: int = DEFAULT_STEPS) -> LrFinderResult:
    """:func:`find_learning_rate` as a background job (see :mod:`core.jobs`): progress, points as they come."""
    return find_learning_rate(design, settings, start, end, steps, progress=job.progress,
                              should_stop=job.should_stop,
                              on_points=lambda points: job.emit(list(points), urgent=True))


def save_curve(result: LrFinderResult, csv_path: str | Path, png_path: str | Path | None = None) -> None:
    """Write the curve as CSV (``csv_text``) and, with ``png_path``, as a plot with the suggestions marked."""
    from convstudio.core.atomic import atomic_write_text
    from convstudio.core.experiments.curve_png import Curve, Marker, write_log_x_plot

    atomic_write_text(Path(csv_path), result.csv_text())
    if png_path is None or not result.losses:
        return
    markers = []
    if result.suggestion.steepest is not None:
        markers.append(Marker(result.suggestion.steepest, (214, 39, 40),
                              f"steepest descent {result.suggestion.steepest:.2g}"))
    if result.suggestion.tenth_of_minimum is not None:
        markers.append(Marker(result.suggestion.tenth_of_minimum, (44, 160, 44),
                              f"minimum / 10 = {result.suggestion.tenth_of_minimum:.2g}"))
    write_log_x_plot(png_path, f"Learning-rate range test ({len(result.losses)} steps)", "learning rate (log)",
                     "loss", [Curve(result.learning_rates, result.losses, (180, 200, 230), 1, "mini-batch loss"),
                              Curve(result.learning_rates, result.smoothed, (31, 119, 180), 2, "smoothed loss")],
                     markers)
