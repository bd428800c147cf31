"""Fine-tune versus from scratch: the lecture's transfer-learning claim, measured.

Trains the same design on dataset B twice, once starting from a run on dataset
A (``init_from``) and once from a fresh initialisation, with the same settings
and seed, and returns both histories so they can be overlaid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from convstudio.core.design import Design
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.records import EpochRecord, Record, RunEnded
from convstudio.core.training.settings import TrainingSettings


@dataclass(frozen=True)
class ComparisonArm:
    """One of the two runs: its label, epochs and end."""

    label: str
    epochs: tuple[EpochRecord, ...]
    ended: RunEnded

    @property
    def best_val_accuracy(self) -> float:
        return max((epoch.val_accuracy for epoch in self.epochs), default=0.0)


@dataclass(frozen=True)
class FinetuneComparison:
    """Fine-tuned and from-scratch runs on the same data."""

    finetuned: ComparisonArm
    scratch: ComparisonArm


def compare_finetune_vs_scratch(design: Design, settings: TrainingSettings, init_from: str | Path,
                                data=None, runs_root: str | Path | None = None,
                                on_record: Callable[[str, Record], None] | None = None) -> FinetuneComparison:
    """Train ``design`` on ``data`` (or settings.dataset) from ``init_from`` and from scratch."""
    arms = {}
    for label, source in (("fine-tuned", str(init_from)), ("from scratch", None)):
        arm_settings = settings.model_copy(update={"init_from": source})
        if source is None:
            arm_settings = arm_settings.model_copy(update={"freeze": [], "freeze_through": None})
        run_dir = Path(runs_root) / label.replace(" ", "-") if runs_root is not None else None
        run = TrainingRun(design, arm_settings, run_dir, data=data, overwrite=True)  # its own arm folder
        epochs = []
        ended = None
        for record in run.records():
            if on_record is not None:
                on_record(label, record)
            if isinstance(record, EpochRecord):
                epochs.append(record)
            elif isinstance(record, RunEnded):
                ended = record
        arms[label] = ComparisonArm(label, tuple(epochs), ended)
    return FinetuneComparison(arms["fine-tuned"], arms["from scratch"])
