"""Hyper-parameter sweeps: a grid or random draws over settings and layer fields, one run folder per trial.

A sweep folder holds ``sweep.json`` (the design, the base settings, the
variations, and every trial's values, planned once) and one ordinary run
folder per trial, ``trial-001``, ``trial-002``, ..., so the Runs tab, ``convstudio
train --resume`` and the lab read trials like any run. Trials run one after
another and share one decoded dataset and split (loaded once: settings that
decide the images cannot be varied), so a trial costs its training time plus
well under two seconds (``python bench/sweep_overhead.py``).

Before anything trains, every trial's design goes through the shape engine
and the classifier check (:mod:`core.training.classifier_output`); once the
dataset is loaded (still before the first trial), every trial is checked
against its images and classes too. Impossible trials are skipped and listed
with the reason. A trial that fails when it starts or while training is
marked failed with its message, and the sweep goes on to the next. Resuming a
sweep skips trials whose run ended (finished, early stopping, or failed),
continues a stopped trial from its last checkpoint, and starts the rest.
The results are read back from the trials' run folders, so a resumed or
half-done sweep reports every trial.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from convstudio.core.experiments.sweep_plan import (
    Objective, SWEEP_FILE, SweepError, SweepPlan, TrialPlan, same_sweep, fit_to_data, load_plan, save_plan,
)
from convstudio.core.experiments.variations import Variation
from convstudio.core.training.records import Record, RunEnded, end_reason_label




@dataclass(frozen=True)
class TrialResult:
    """One trial as its run folder tells it."""

    index: int
    name: str
    values: dict[str, Any]
    status: str  # "pending", "running", "finished", "early stop", "stopped", "diverged", "failed", "impossible"
    best_val_accuracy: float | None = None
    best_val_loss: float | None = None
    epochs: int = 0
    seconds: float = 0.0
    run_dir: str | None = None
    message: str = ""
    val_losses: tuple[float, ...] = ()  # per epoch, for overlaid curves
    train_losses: tuple[float, ...] = ()

    @property
    def done(self) -> bool:
        """Ended for good: trained as planned, or failed (resuming does not redo it)."""
        return self.status in ("finished", "early stop", "diverged", "out of memory", "failed", "impossible")

    def objective(self, objective: Objective) -> float | None:
        return self.best_val_accuracy if objective == "val_accuracy" else self.best_val_loss


def trial_result(folder: str | Path, trial: TrialPlan) -> TrialResult:
    """What the trial's run folder says: status, best validation accuracy and loss, epochs, time."""
    from convstudio.core.training.run_folder import RunFolder

    base = TrialResult(trial.index, trial.name, dict(trial.values), "pending")
    if trial.problem is not None:
        return replace(base, status="impossible", message=trial.problem)
    run = RunFolder(Path(folder) / trial.name)
    if not (run.path / "run.json").is_file():
        return base
    status = run.status()
    metrics = run.read_lines("metrics.jsonl")
    val_losses = tuple(row["val_loss"] for row in metrics)
    accuracies = [row["val_accuracy"] for row in metrics]
    if status.get("status") == "running":
        label = "running"
    else:
        label = end_reason_label(status.get("reason", ""))
    return replace(base, status=label, best_val_accuracy=max(accuracies) if accuracies else None,
                   best_val_loss=min(val_losses) if val_losses else None, epochs=len(metrics),
                   seconds=sum(row.get("seconds", 0.0) for row in metrics), run_dir=str(run.path),
                   message=status.get("message", ""), val_losses=val_losses,
                   train_losses=tuple(row["train_loss"] for row in metrics))


def sweep_results(folder: str | Path, plan: SweepPlan | None = None) -> list[TrialResult]:
    """Every trial of the sweep in ``folder``, in plan order."""
    plan = plan or load_plan(folder)
    return [trial_result(folder, trial) for trial in plan.trials]


def ranked(results: Sequence[TrialResult], objective: Objective) -> list[TrialResult]:
    """Trials best first by ``objective``; trials without a value last, in plan order."""
    scored = [r for r in results if r.objective(objective) is not None]
    rest = [r for r in results if r.objective(objective) is None]
    scored.sort(key=lambda r: -r.objective(objective) if objective == "val_accuracy" else r.objective(objective))
    return scored + rest


# ----- running ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialStarted:
    """A trial begins (``number`` of ``count`` trials to train in this call)."""

    index: int
    name: str
    values: dict[str, Any]
    number: int
    count: int
    resumed: bool


@dataclass(frozen=True)
class TrialRecord:
    """A training record of the trial ``index``."""

    index: int
    record: Record


@dataclass(frozen=True)
class TrialsSkipped:
    """Trials the dataset check marked impossible (once the data is loaded, before anything trains)."""

    lines: tuple[str, ...]


@dataclass(frozen=True)
class TrialFinished:
    """A trial ended; ``result`` is read back from its run folder."""

    result: TrialResult


@dataclass(frozen=True)
class SweepReport:
    """The sweep after a call to :func:`run_sweep`: every trial, and whether it was stopped."""

    folder: str
    objective: Objective
    variations: tuple[Variation, ...]
    results: tuple[TrialResult, ...]
    stopped: bool
    seconds: float
    trained: int  # trials trained (or continued) by this call
    overhead_seconds: tuple[float, ...] = field(default=())  # per trained trial: start-up and bookkeeping

    @property
    def best(self) -> TrialResult | None:
        order = ranked(self.results, self.objective)
        return order[0] if order and order[0].objective(self.objective) is not None else None

    @property
    def failed(self) -> list[TrialResult]:
        return [r for r in self.results if r.status in ("diverged", "out of memory", "failed")]


SweepEvent = TrialStarted | TrialRecord | TrialFinished | TrialsSkipped


class DatasetCache:
    """Decoded datasets by the settings that decide their images: trials share one, loaded once."""

    def __init__(self) -> None:
        self._loaded: dict[tuple, Any] = {}

    def get(self, settings):
        from convstudio.core.training.setup import load_data

        key = (settings.dataset, settings.val_fraction, settings.data_limit, settings.seed,
               getattr(settings, "skip_unreadable", False))
        if key not in self._loaded:
            self._loaded[key] = load_data(settings)
        return self._loaded[key]


def run_sweep(folder: str | Path, plan: SweepPlan | None = None, *, on_event: Callable[[SweepEvent], None] | None = None,
              control=None, data_cache: DatasetCache | None = None) -> SweepReport:
    """Train the sweep in ``folder``: a new one from ``plan`` (written there first), or the one kept there (resume).

    Trials whose run ended are skipped; a stopped trial continues from its
    checkpoint. Once the dataset is loaded, trials that cannot train on it
    are marked impossible in ``sweep.json`` (a TrialsSkipped event lists
    them). A trial that fails to start or while training is marked failed
    (its run.json says why) and the sweep goes on. ``control`` (a RunControl)
    stops the trial in progress and the sweep after it. Raises SweepError for
    a folder that holds another sweep or when no trial can train,
    TrainingSetupError for a dataset that cannot load.
    """
    from convstudio.core.training.control import RunControl
    from convstudio.core.training.engine import TrainingRun
    from convstudio.core.training.run_folder import RunFolder

    started = time.perf_counter()
    folder = Path(folder)
    if plan is None:
        plan = load_plan(folder)
    else:
        if (folder / SWEEP_FILE).exists() and not same_sweep(load_plan(folder), plan):
            raise SweepError(f"{folder} holds another sweep: resume it with --resume {folder}, or choose a new --out")
        save_plan(plan, folder)
    control = control or RunControl()
    cache = data_cache or DatasetCache()
    emit = on_event or (lambda event: None)
    overheads: list[float] = []
    stopped = False
    # One dataset and split for every trial, decoded once: trials are compared on the same validation images
    # (a varied seed changes initialisation, batch order, augmentation and dropout masks, not the split).
    data = cache.get(plan.settings)
    checked = fit_to_data(plan, data.image_shape, data.num_classes, data.name)
    if checked.to_json() != plan.to_json():
        newly = [trial for trial, before in zip(checked.trials, plan.trials) if trial.problem != before.problem]
        plan = checked
        save_plan(plan, folder)  # a resumed sweep and its table show them as impossible too
        emit(TrialsSkipped(tuple(impossible_lines(replace(plan, trials=tuple(newly))))))
    if not plan.possible:
        raise SweepError(f"no trial of the sweep in {folder} can train on {data.name} (every combination is "
                         "impossible): narrow the ranges")
    todo = [trial for trial in plan.possible if not trial_result(folder, trial).done]
    for number, trial in enumerate(todo):
        if control.stop_requested:
            stopped = True
            break
        trial_started = time.perf_counter()
        run_folder = RunFolder(folder / trial.name)
        resumable = run_folder.checkpoint_path.is_file()
        settings = plan.trial_settings(trial)
        emit(TrialStarted(trial.index, trial.name, dict(trial.values), number + 1, len(todo), resumable))
        ended: RunEnded | None = None
        run_started = run_ended = None
        try:
            if resumable:
                run = TrainingRun(None, None, run_folder.path, resume=True, control=control, data=data)
            else:
                run = TrainingRun(plan.trial_design(trial), settings, run_folder.path, control=control, data=data,
                                  overwrite=True)
            for record in run.records():
                if run_started is None:
                    run_started = time.perf_counter()
                if isinstance(record, RunEnded):
                    ended, run_ended = record, time.perf_counter()
                emit(TrialRecord(trial.index, record))
        except Exception as error:  # noqa: BLE001 - one trial's failure (a setup refusal, a bug) is not the sweep's
            _mark_failed(run_folder, plan, trial, error)
        emit(TrialFinished(trial_result(folder, trial)))
        # Start-up (model, optimizer, batches from the shared data, run folder) and bookkeeping after the
        # run: what a trial costs beyond the engine's own work (training, validation, the test evaluation).
        now = time.perf_counter()
        overheads.append(((run_started or now) - trial_started) + (now - (run_ended or now)))
        if ended is not None and ended.reason.value == "stopped" and control.stop_requested:
            stopped = True
            break
    results = tuple(sweep_results(folder, plan))
    return SweepReport(str(folder), plan.objective, plan.variations, results, stopped,
                       time.perf_counter() - started, len(overheads), tuple(overheads))


def _mark_failed(run_folder, plan: SweepPlan, trial: TrialPlan, error: Exception) -> None:
    """Leave ``run.json`` saying the trial failed and why, so the table shows it and a resume skips it."""
    from convstudio.core.training.records import EndReason

    message = str(error) or type(error).__name__
    if not (run_folder.path / "design.json").is_file():  # refused at setup: the engine left no folder
        run_folder.create(plan.trial_design(trial), plan.trial_settings(trial), overwrite=True)
    done = run_folder.status().get("epochs_completed", 0)  # a resumed trial keeps its finished epochs
    run_folder.write_status("ended", reason=EndReason.ERROR.value, message=message, epochs_completed=done)


def sweep_job(job, folder: str, plan: SweepPlan | None = None) -> SweepReport:
    """:func:`run_sweep` as a background job (see :mod:`core.jobs`): progress over all trials' steps.

    Emits TrialStarted, TrialFinished and the trials' EpochRecords (as
    TrialRecord); step records only move the progress bar.
    """
    from convstudio.core.training.records import EpochRecord, RunStarted, StepRecord

    state = {"trial": 0, "count": 1, "steps": 1}

    def on_event(event: SweepEvent) -> None:
        if isinstance(event, TrialStarted):
            state["trial"], state["count"] = event.number - 1, event.count
            job.emit(event, urgent=True)
        elif isinstance(event, TrialRecord):
            record = event.record
            if isinstance(record, RunStarted):
                state["steps"] = max(1, record.batches_per_epoch * record.epochs)
            elif isinstance(record, StepRecord):
                job.progress(state["trial"] * state["steps"] + record.step, state["count"] * state["steps"])
            elif isinstance(record, EpochRecord):
                job.emit(event, urgent=True)
        else:
            job.emit(event, urgent=True)

    return run_sweep(folder, plan, on_event=on_event, control=job.control)


# ----- text -----------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def results_table(results: Sequence[TrialResult], variations: Sequence[Variation], objective: Objective) -> str:
    """The trials as a text table, best first by ``objective``: values, best validation accuracy and loss, ..."""
    names = [v.name for v in variations]
    header = ["rank", "trial", *names, "val acc", "val loss", "epochs", "time", "status"]
    rows = []
    for rank, result in enumerate(ranked(results, objective), start=1):
        scored = result.objective(objective) is not None
        rows.append([str(rank) if scored else "", result.name, *(_cell(result.values.get(n)) for n in names),
                     _cell(result.best_val_accuracy), _cell(result.best_val_loss), str(result.epochs),
                     f"{result.seconds:.1f} s" if result.epochs else "-", result.status])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]
    return "\n".join(lines)


def impossible_lines(plan: SweepPlan) -> list[str]:
    """One line per trial the shape engine (or a settings check) refuses, with its values and the reason."""
    return [f"{trial.name} ({', '.join(f'{k}={_cell(v)}' for k, v in trial.values.items())}): {trial.problem}"
            for trial in plan.impossible]

