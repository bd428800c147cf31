"""Overfitting remedies side by side: the lecture's "Overfitting" slide, one training run per remedy.

:func:`remedy_variants` turns the current design and settings into a plain
baseline (no dropout, no batch normalisation, no augmentation, no L2 penalty,
no early stopping) and variants that each add one remedy back: dropout (eq.
18-24), batch normalisation (eq. 32-37), data augmentation, an l2 penalty
lambda ||theta||^2 for a few lambdas, and early stopping. :func:`train_variants`
trains them one after another and returns their curves with the
generalisation gap per epoch, for one overlaid plot.

The training curves are those the engine reports: the mean loss and accuracy
over the epoch's mini-batches, with dropout and augmentation active.
:func:`remedies_job` is :func:`train_variants` as a background job (see
:mod:`core.jobs`): the app runs it in a child process.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from convstudio.core.data import AugmentationSettings, DatasetSplits
from convstudio.core.design import Design
from convstudio.core.jobs import JobContext
from convstudio.core.lab.common import LabCancelled
from convstudio.core.lab.data_access import run_dataset
from convstudio.core.lab.design_edits import renamed, with_batch_norm, with_dropout, without_kinds
from convstudio.core.training.control import RunControl
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.records import EpochRecord, Record, RunStarted, StepRecord
from convstudio.core.training.settings import TrainingSettings

L2_GRID = (1e-4, 1e-3, 1e-2)
DEFAULT_AUGMENTATION = AugmentationSettings(flip=True, crop_padding=4)
"""Used by the augmentation variant when the settings have none: mirror, and shift by up to 4 pixels."""


class RemedyVariant(NamedTuple):
    """One variant to train: unpacks as ``(label, design, settings)``."""

    label: str
    design: Design
    settings: TrainingSettings


@dataclass(frozen=True)
class VariantCurves:
    """One variant's curves, per epoch (1-based), and how its run ended."""

    label: str
    run_dir: str | None
    epochs: tuple[int, ...]
    train_loss: tuple[float, ...]
    val_loss: tuple[float, ...]
    train_accuracy: tuple[float, ...]
    val_accuracy: tuple[float, ...]
    accuracy_gap: tuple[float, ...]  # train accuracy - validation accuracy
    loss_gap: tuple[float, ...]  # validation loss - train loss
    best_epoch: int | None  # 1-based epoch with the lowest validation loss
    end_reason: str  # "finished", "early_stopping", ...
    test_accuracy: float | None
    test_loss: float | None


def remedy_variants(design: Design, settings: TrainingSettings, l2_grid: Sequence[float] = L2_GRID,
                    dropout_p: float = 0.5, include_current: bool = False) -> list[RemedyVariant]:
    """The baseline and one variant per remedy, in the slide's spirit.

    Dropout and batch normalisation keep the design's own layers where it has
    them, and are otherwise added (dropout with ``dropout_p`` before every fully
    connected layer; batch normalisation after every convolution and hidden
    fully connected layer). Augmentation keeps the settings' own, or uses
    :data:`DEFAULT_AUGMENTATION`. Early stopping uses the settings' patience.
    ``include_current`` adds the design and settings as they are, first.
    """
    bare = renamed(without_kinds(design, {"dropout", "batchnorm"}), "(baseline)")
    plain = settings.model_copy(update={"l2_penalty": 0.0, "early_stopping": False,
                                        "augmentation": AugmentationSettings()})
    augmentation = settings.augmentation if settings.augmentation.enabled else DEFAULT_AUGMENTATION
    dropout = renamed(with_dropout(without_kinds(design, {"batchnorm"}), dropout_p), "(+ dropout)")
    batch_norm = renamed(with_batch_norm(without_kinds(design, {"dropout"})), "(+ batch norm)")
    variants = [RemedyVariant("as designed", design, settings)] if include_current else []
    variants += [
        RemedyVariant("baseline", bare, plain),
        RemedyVariant("dropout", dropout, plain),
        RemedyVariant("batch norm", batch_norm, plain),
        RemedyVariant("augmentation", bare, plain.model_copy(update={"augmentation": augmentation})),
    ]
    variants += [RemedyVariant(f"L2 {lam:g}", bare, plain.model_copy(update={"l2_penalty": lam})) for lam in l2_grid]
    variants.append(RemedyVariant("early stopping", bare, plain.model_copy(update={"early_stopping": True})))
    return variants


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", label).strip("-").lower()


def _curves(label: str, run_dir: Path | None, epochs: list[EpochRecord], ended) -> VariantCurves:
    train_loss = tuple(e.train_loss for e in epochs)
    val_loss = tuple(e.val_loss for e in epochs)
    train_acc = tuple(e.train_accuracy for e in epochs)
    val_acc = tuple(e.val_accuracy for e in epochs)
    return VariantCurves(
        label, str(run_dir) if run_dir else None, tuple(e.epoch + 1 for e in epochs), train_loss, val_loss,
        train_acc, val_acc, tuple(t - v for t, v in zip(train_acc, val_acc)),
        tuple(v - t for t, v in zip(train_loss, val_loss)),
        None if ended.best_epoch is None else ended.best_epoch + 1, ended.reason.value,
        ended.test_accuracy, ended.test_loss)


def train_variants(variants: Sequence[RemedyVariant], data: DatasetSplits | None = None,
                   runs_root: str | Path | None = None,
                   on_record: Callable[[str, Record], None] | None = None,
                   control: RunControl | None = None) -> list[VariantCurves]:
    """Train every variant in turn on the same data; one run folder each under ``runs_root``.

    ``on_record(label, record)`` receives every training record (for live
    plots); ``control.stop()`` ends the current run and raises LabCancelled.
    """
    if not variants:
        return []
    data = data if data is not None else run_dataset(variants[0].settings)
    control = control or RunControl()
    results = []
    for number, (label, design, settings) in enumerate(variants, start=1):
        run_dir = Path(runs_root) / f"{number:02d}-{_slug(label)}" if runs_root is not None else None
        epochs: list[EpochRecord] = []

        def collect(record: Record, label: str = label, epochs: list = epochs) -> None:
            if isinstance(record, EpochRecord):
                epochs.append(record)
            if on_record is not None:
                on_record(label, record)

        # The lab's own variant folder: a rerun replaces it.
        ended = TrainingRun(design, settings, run_dir, data=data, control=control, overwrite=True).run(collect)
        if control.stop_requested:
            raise LabCancelled(f"stopped while training variant {label!r}")
        results.append(_curves(label, run_dir, epochs, ended))
    return results


def remedies_job(job: JobContext, variants: Sequence[RemedyVariant],
                 runs_root: str | Path | None = None) -> list[VariantCurves]:
    """:func:`train_variants` as a background job: progress per variant, every epoch as it ends.

    Emits ``(label, RunStarted)`` and ``(label, EpochRecord)`` (for live
    curves); progress counts 1000 per variant. Cancel is ``job.control``'s
    stop, answered with LabCancelled.
    """
    labels = [variant.label for variant in variants]
    steps = 1

    def on_record(label: str, record: Record) -> None:
        nonlocal steps
        number = labels.index(label)
        if isinstance(record, RunStarted):
            steps = max(1, record.batches_per_epoch * record.epochs)
            job.emit((label, record), urgent=True)
        elif isinstance(record, StepRecord):
            job.progress(number * 1000 + min(1000, 1000 * record.step // steps), 1000 * len(labels))
        elif isinstance(record, EpochRecord):
            job.emit((label, record), urgent=True)

    return train_variants(variants, runs_root=runs_root, on_record=on_record, control=job.control)
