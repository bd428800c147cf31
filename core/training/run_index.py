"""Finding a design's runs and reading back what they measured.

Runs live under a runs root, one folder per design (named after it), one
subfolder per run named by its start time::

    RUNS_ROOT/small-and-fast-built-in-shapes/20250101-120000/   a run folder (see run_folder.py)

:func:`list_runs` summarises the runs of one design folder for a list view;
:func:`read_history` turns a run's ``steps.jsonl`` and ``metrics.jsonl`` into
columns for charts. Nothing here runs code from a folder: JSON only.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from convstudio.core.training.run_folder import RunFolder

_SLUG_LENGTH = 60


def design_slug(name: str) -> str:
    """A folder name for a design name: lower case letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:_SLUG_LENGTH].rstrip("-") or "design"


def design_runs_folder(runs_root: str | Path, design_name: str) -> Path:
    """Where the runs of the design called ``design_name`` are kept."""
    return Path(runs_root) / design_slug(design_name)


def new_run_dir(runs_root: str | Path, design_name: str, now: float | None = None) -> Path:
    """A fresh (not yet existing) run folder for a design, named by the time."""
    folder = design_runs_folder(runs_root, design_name)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    candidate = folder / stamp
    number = 2
    while candidate.exists():
        candidate = folder / f"{stamp}-{number}"
        number += 1
    return candidate


@dataclass(frozen=True)
class RunSummary:
    """One line of a runs list."""

    path: Path
    status: str  # running, ended, interrupted (run.json says running but its process is gone), or ""
    reason: str  # finished, stopped, early_stopping, non_finite_loss, out_of_memory, error, or ""
    message: str
    epochs_done: int
    epochs: int | None
    best_val_accuracy: float | None
    test_accuracy: float | None
    dataset: str
    optimizer: str
    resumable: bool  # a checkpoint exists and the run did not reach its last epoch

    @property
    def name(self) -> str:
        """The run folder's name (its start time)."""
        return self.path.name


def _settings_data(folder: Path) -> dict:
    try:
        return json.loads((folder / "settings.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def summarise_run(path: str | Path) -> RunSummary:
    """What a list shows about one run folder (missing files give empty fields)."""
    folder = RunFolder(Path(path))
    status = folder.status()
    settings = _settings_data(folder.path)
    metrics = folder.read_lines("metrics.jsonl")
    accuracies = [row["val_accuracy"] for row in metrics if isinstance(row.get("val_accuracy"), (int, float))]
    epochs = settings.get("epochs")
    reason = status.get("reason", "")
    unfinished = epochs is None or len(metrics) < epochs
    state = status.get("status", "")
    alive = folder.process_alive()
    if state == "running" and alive is False:
        state = "interrupted"  # killed without a word: kill -9, the out-of-memory killer, a power cut
    return RunSummary(
        path=folder.path, status=state, reason=reason, message=status.get("message", ""),
        epochs_done=len(metrics), epochs=epochs, best_val_accuracy=max(accuracies) if accuracies else None,
        test_accuracy=status.get("test_accuracy"), dataset=str(settings.get("dataset", "")),
        optimizer=str(settings.get("optimizer", "")),
        # A run killed before its first checkpoint resumes from epoch 1; a live one is not resumed under it.
        resumable=(unfinished and reason not in ("early_stopping",) and alive is not True
                   and (folder.checkpoint_path.is_file() or state == "interrupted")),
    )


def list_runs(design_folder: str | Path) -> list[RunSummary]:
    """The run folders directly under ``design_folder``, newest first (a folder needs settings.json)."""
    folder = Path(design_folder)
    if not folder.is_dir():
        return []
    runs = [summarise_run(path) for path in folder.iterdir() if (path / "settings.json").is_file()]
    return sorted(runs, key=lambda run: run.name, reverse=True)


@dataclass
class RunHistory:
    """A run's curves as columns: per step, and per epoch (x: the step at the epoch's end)."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    epoch_steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)


def read_history(path: str | Path, completed_epochs_only: bool = False) -> RunHistory:
    """The curves a run folder's ``steps.jsonl`` and ``metrics.jsonl`` hold.

    With ``completed_epochs_only`` the steps of an epoch the run did not finish
    are left out: what a resumed run keeps (it trains that epoch again).
    """
    folder = RunFolder(Path(path))
    history = RunHistory()
    last_step_of_epoch: dict[int, int] = {}
    completed = len(folder.read_lines("metrics.jsonl")) if completed_epochs_only else None
    for row in folder.read_lines("steps.jsonl"):
        try:
            step, loss = int(row["step"]), float(row["loss"])
        except (KeyError, TypeError, ValueError):
            continue
        if completed is not None and int(row.get("epoch", 0)) > completed:
            continue
        history.steps.append(step)
        history.loss.append(loss)
        history.accuracy.append(float(row.get("accuracy", float("nan"))))
        history.learning_rate.append(float(row.get("learning_rate", float("nan"))))
        epoch = int(row.get("epoch", 0))
        last_step_of_epoch[epoch] = max(step, last_step_of_epoch.get(epoch, 0))
    for row in folder.read_lines("metrics.jsonl"):
        try:
            epoch = int(row["epoch"])  # 1-based in metrics.jsonl and steps.jsonl
            values = [float(row[key]) for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy")]
        except (KeyError, TypeError, ValueError):
            continue
        history.epoch_steps.append(last_step_of_epoch.get(epoch, epoch))
        history.train_loss.append(values[0])
        history.val_loss.append(values[1])
        history.train_accuracy.append(values[2])
        history.val_accuracy.append(values[3])
    return history
