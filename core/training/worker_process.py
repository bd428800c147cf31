"""The training run as a background job, so that a GUI beside it never slows it down.

A training thread inside the GUI process shares the GIL with the GUI's Python
work (drawing charts), which cost the engine up to half its speed; a child
process runs at the headless engine's speed. :func:`train_job` is the job (see
:mod:`core.jobs`): it trains as a :class:`RunRequest` says and emits the
engine's records, step records batched, the rare ones at once, and, while an
image folder decodes before the first batch, :class:`DataProgress` records.
:class:`TrainingProcess` runs it in a spawned process (or, ``backend="thread"``,
on a thread: for measuring what the process buys). The design and settings
cross the boundary as JSON; pause, resume and stop are events the engine reads
through its :class:`~core.training.control.RunControl`.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convstudio.core.jobs import FLUSH_SECONDS, Backend, BackgroundJob, JobContext, JobError, run_job

EXAMPLE_COUNT = 32  # test images whose predictions come back when a run ends
DATA_PROGRESS_SECONDS = 0.1  # a decoding image folder reports at most 10 times a second (and always its end)


@dataclass(frozen=True)
class RunRequest:
    """What the child needs to train: everything as plain strings, nothing that needs pickling care.

    ``design_json`` and ``settings_json`` are None when resuming (the run folder has them).
    """

    run_dir: str
    design_json: str | None = None
    settings_json: str | None = None
    resume: bool = False
    example_count: int = EXAMPLE_COUNT


@dataclass(frozen=True)
class ExamplesReady:
    """Predictions on a few test images, sent just before the RunEnded record."""

    examples: Any  # core.training.predictions.ExamplePredictions


@dataclass(frozen=True)
class DataProgress:
    """How far the run's image folder has been decoded, sent before RunStarted while it loads.

    ``done`` of ``total`` images; ``done == total`` once it is decoded (or was
    found decoded before), when the run goes on preparing. Stop cancels a
    decoding that has not finished: the run then ends as stopped before training.
    """

    done: int
    total: int
    dataset: str  # the folder, as the settings name it


class _DataProgressSender:
    """Turns the data load's ``(done, total)`` reports into :class:`DataProgress` records, a few a second."""

    def __init__(self, job: JobContext) -> None:
        self.job = job
        self.dataset = ""
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and done > 0 and now - self._last < DATA_PROGRESS_SECONDS:
            return
        self._last = now
        self.job.emit(DataProgress(int(done), int(total), self.dataset), urgent=True)


def train_job(job: JobContext, request: RunRequest) -> None:
    """Train as ``request`` says, emitting every record; the last is RunEnded (after ExamplesReady).

    A run that cannot start or breaks raises :class:`~core.jobs.JobError` with
    a sentence for the user (and a traceback only for unexpected errors). When
    the window is closing (``job.abandoned``) the example predictions are skipped.
    """
    try:
        _train(job, request)
    except Exception as error:  # noqa: BLE001 - turned into a sentence for the user
        raise _failure(error) from None


def _train(job: JobContext, request: RunRequest) -> None:
    from convstudio.core.design import design_from_json
    from convstudio.core.training.engine import TrainingRun
    from convstudio.core.training.predictions import predict_examples, save_results
    from convstudio.core.training.records import RunEnded, StepRecord
    from convstudio.core.training.settings import TrainingSettings

    design = design_from_json(request.design_json, "the design") if request.design_json else None
    settings = TrainingSettings.model_validate_json(request.settings_json) if request.settings_json else None
    progress = _DataProgressSender(job)
    run = TrainingRun(design, settings, request.run_dir, control=job.control, resume=request.resume,
                      data_progress=progress)
    # The app never downloads in the run (its dataset chooser does): reports come from an image folder only.
    progress.dataset = run.settings.dataset
    for record in run.records():
        if not isinstance(record, RunEnded):
            job.emit(record, urgent=not isinstance(record, StepRecord))
            continue
        job.flush()  # the last steps show while the examples are predicted
        examples = None
        prepared = run.prepared  # None when stopped while the data loaded: nothing to predict or save
        if record.test_accuracy is not None and not job.abandoned and request.example_count > 0:
            examples = predict_examples(prepared.model, prepared.data, prepared.device, request.example_count)
            job.emit(ExamplesReady(examples))
        if record.run_dir is not None and prepared is not None:
            save_results(record.run_dir, record, tuple(prepared.data.classes), examples)
        job.emit(record, urgent=True)


def _failure(error: Exception) -> JobError:
    from pydantic import ValidationError

    from convstudio.core.design import DesignFileError
    from convstudio.core.training.run_folder import RunFolderError
    from convstudio.core.training.setup import TrainingSetupError

    if isinstance(error, (TrainingSetupError, RunFolderError, DesignFileError)):
        return JobError(str(error))
    if isinstance(error, ValidationError):
        return JobError(f"the training settings are not valid: {error}")
    if isinstance(error, MemoryError):
        return JobError("the training process ran out of memory: lower the batch size or limit the data")
    return JobError(f"training failed: {type(error).__name__}: {error}", traceback.format_exc())


def run_in_child(request: RunRequest, channel, pause_event, stop_event, abandon_event) -> None:
    """Train in this process and thread, sending lists of records through ``channel`` (as the child does)."""
    run_job(train_job, (request,), channel, pause_event, stop_event, abandon_event, FLUSH_SECONDS)


class TrainingProcess(BackgroundJob):
    """One run in a child process (or thread): the training job with the run folder it writes."""

    def __init__(self, request: RunRequest, backend: Backend = "process") -> None:
        super().__init__(train_job, (request,), backend, name="convstudio-training")
        self.request = request

    @property
    def run_dir(self) -> Path:
        """The run folder the child writes."""
        return Path(self.request.run_dir)
