"""Ensembles: K copies of a design trained from different seeds, their softmax outputs averaged.

One of the lecture's remedies for overfitting. Each member starts from its own
random initialisation and sees its own batch order and dropout masks, so the
members make partly independent mistakes; averaging their predicted
distributions cancels some of them. The ensemble's negative log-likelihood is
never worse than its members' average (-log is convex: Jensen's inequality);
its accuracy is usually at least their average accuracy, and often above the best member.

Every member is an ordinary training run (one run folder each), so the runs
list shows them, and :func:`ensemble_from_runs` can re-evaluate any set of runs.
:func:`ensemble_job` is :func:`train_ensemble` as a background job (see
:mod:`core.jobs`): the app runs it in a child process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from torch import nn

from convstudio.core.data import DatasetSplits
from convstudio.core.design import Design
from convstudio.core.jobs import JobContext
from convstudio.core.lab.common import LabCancelled
from convstudio.core.lab.data_access import load_trained_run, normalised_images, run_dataset
from convstudio.core.lab.dropout_lab import weight_scaling_probabilities
from convstudio.core.training.control import RunControl
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.records import EpochRecord, Record, RunStarted, StepRecord
from convstudio.core.training.settings import TrainingSettings


@dataclass(frozen=True)
class MemberResult:
    """One member on the test split (weight-scaling prediction, eq. 22)."""

    seed: int | None
    run_dir: str | None
    accuracy: float
    nll: float  # mean -log p(true class)
    end_reason: str  # "finished", "early_stopping", ... ("loaded" for existing runs)


@dataclass(frozen=True)
class EnsembleSize:
    """The ensemble of the first ``members`` members: how accuracy and NLL improve with K."""

    members: int
    accuracy: float
    nll: float


@dataclass(frozen=True)
class EnsembleReport:
    """The ensemble against its members, on the same test images."""

    dataset: str
    test_size: int
    members: tuple[MemberResult, ...]
    accuracy: float  # of the averaged softmax
    nll: float
    by_size: tuple[EnsembleSize, ...]  # K = 1 .. len(members), in member order
    seconds: float

    @property
    def mean_member_accuracy(self) -> float:
        return float(np.mean([m.accuracy for m in self.members]))

    @property
    def mean_member_nll(self) -> float:
        return float(np.mean([m.nll for m in self.members]))


def _accuracy_nll(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, None)
    return float(np.mean(probabilities.argmax(axis=1) == labels)), float(-np.log(picked).mean())


def _member_probabilities(model: nn.Module, data: DatasetSplits) -> np.ndarray:
    device = next(model.parameters()).device
    images, _ = normalised_images(data, "test", device=device)
    return weight_scaling_probabilities(model, images)


def evaluate_ensemble(members: Sequence[tuple[MemberResult, np.ndarray]], data: DatasetSplits,
                      started: float) -> EnsembleReport:
    """The report for members given with their test-split probabilities (N x K arrays)."""
    if not members:
        raise ValueError("an ensemble needs at least one member")
    labels = data.test_labels.numpy().astype(int)
    if len(labels) == 0:
        raise ValueError(f"{data.name} has no test split to evaluate the ensemble on")
    if any(p.shape != (len(labels), data.num_classes) for _, p in members):
        raise ValueError(f"every member must predict the {data.num_classes} classes of {data.name} "
                         f"for its {len(labels)} test images")
    total = np.zeros_like(members[0][1], dtype=np.float64)
    by_size = []
    for k, (_, probabilities) in enumerate(members, start=1):
        total += probabilities
        by_size.append(EnsembleSize(k, *_accuracy_nll(total / k, labels)))
    return EnsembleReport(data.name, len(labels), tuple(m for m, _ in members), by_size[-1].accuracy,
                          by_size[-1].nll, tuple(by_size), time.perf_counter() - started)


def train_ensemble(design: Design, settings: TrainingSettings, members: int = 3, data: DatasetSplits | None = None,
                   runs_root: str | Path | None = None, seeds: Sequence[int] | None = None, *,
                   on_record: Callable[[int, Record], None] | None = None,
                   control: RunControl | None = None) -> EnsembleReport:
    """Train ``members`` runs of ``design`` (seeds ``settings.seed``, +1, ... unless given) and average them.

    All members share one dataset and split (loaded once from ``settings``);
    only the seed differs. With ``runs_root`` each member writes a run folder
    ``member<i>-seed<s>`` there. ``on_record(member_index, record)`` receives
    every training record; ``control.stop()`` ends the current member and
    raises LabCancelled.
    """
    started = time.perf_counter()
    seeds = list(seeds) if seeds is not None else [settings.seed + i for i in range(members)]
    data = data if data is not None else run_dataset(settings)
    control = control or RunControl()
    results = []
    for index, seed in enumerate(seeds):
        run_dir = Path(runs_root) / f"member{index + 1}-seed{seed}" if runs_root is not None else None
        run = TrainingRun(design, settings.model_copy(update={"seed": seed}), run_dir, data=data, control=control,
                          overwrite=True)  # the lab's own member folder: a rerun replaces it
        ended = run.run(None if on_record is None else lambda record, i=index: on_record(i, record))
        if control.stop_requested:
            raise LabCancelled(f"ensemble cancelled while training member {index + 1} of {len(seeds)}")
        probabilities = _member_probabilities(run.prepared.model, data)
        accuracy, nll = _accuracy_nll(probabilities, data.test_labels.numpy().astype(int))
        results.append((MemberResult(seed, str(run_dir) if run_dir else None, accuracy, nll, ended.reason.value),
                        probabilities))
    return evaluate_ensemble(results, data, started)


def ensemble_job(job: JobContext, design: Design, settings: TrainingSettings, members: int,
                 runs_root: str | Path | None = None) -> EnsembleReport:
    """:func:`train_ensemble` as a background job: progress over every member's steps, news as they happen.

    Emits ``(member_index, RunStarted)`` and ``(member_index, EpochRecord)``
    (the step records stay here: they only move the progress bar); Cancel is
    ``job.control``'s stop, answered with LabCancelled.
    """
    steps_per_member = 1

    def on_record(member: int, record: Record) -> None:
        nonlocal steps_per_member
        if isinstance(record, RunStarted):
            steps_per_member = max(1, record.batches_per_epoch * record.epochs)
            job.emit((member, record), urgent=True)
        elif isinstance(record, StepRecord):
            job.progress(member * steps_per_member + record.step, members * steps_per_member)
        elif isinstance(record, EpochRecord):
            job.emit((member, record), urgent=True)

    return train_ensemble(design, settings, members, runs_root=runs_root, on_record=on_record, control=job.control)


def ensemble_from_runs(run_dirs: Sequence[str | Path], data: DatasetSplits | None = None,
                       weights: Literal["best", "last"] = "last") -> EnsembleReport:
    """The ensemble of existing runs of one design on the test split of ``data`` (default: the first run's).

    ``weights="last"`` takes checkpoint.pt, the weights after the last epoch
    (what a run's own test accuracy measured, unless early stopping restored
    its best weights first); ``"best"`` takes best.pt, the lowest validation loss.
    """
    started = time.perf_counter()
    results = []
    for run_dir in run_dirs:
        trained = load_trained_run(run_dir, weights)
        if data is None:
            data = run_dataset(trained.settings)
        probabilities = _member_probabilities(trained.model, data)
        accuracy, nll = _accuracy_nll(probabilities, data.test_labels.numpy().astype(int))
        results.append((MemberResult(trained.settings.seed, str(run_dir), accuracy, nll, "loaded"), probabilities))
    return evaluate_ensemble(results, data, started)
