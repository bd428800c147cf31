"""The training run as the dashboard sees it: the run's records, turned into one signal per kind.

The run itself is a background job (:func:`core.training.worker_process.train_job`)
in a child process, driven by a :class:`~gui.background.Worker` like every other
background job in the app. This adapter sorts what the run emits into the
dashboard's signals and sends step records as lists (one per poll, a few a
second), never one signal per batch. Closing the window stops the run and
waits for the child; a child that had to be ended leaves its run folder saying so.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from convstudio.core.jobs import Backend, JobFailed
from convstudio.core.training.records import CompileReport, EpochRecord, RunEnded, RunStarted, StepRecord
from convstudio.core.training.run_folder import RunFolder
from convstudio.core.training.worker_process import DataProgress, ExamplesReady, RunRequest, TrainingProcess
from convstudio.gui.background import Worker

POLL_HZ = 10  # the child sends at most 10 lists a second
CLOSE_TIMEOUT_S = 20.0  # closing the window waits this long for the run to end, then ends the child


class TrainingWorker(QObject):
    """One run at a time: :meth:`start`, :meth:`pause`, :meth:`resume`, :meth:`stop`, :meth:`shut_down`.

    Signals, in the order a run sends them: ``data_progress(DataProgress)``
    while an image folder decodes, ``started(RunStarted)``,
    ``steps(list[StepRecord])`` and ``epoch(EpochRecord)`` repeatedly,
    ``examples(ExamplePredictions)`` when there are test results, then
    ``ended(RunEnded)`` (alone, after data_progress, when stopped while the
    folder decoded); or ``failed(str)`` when the run could not start or the
    child died. ``finished()`` comes last in every case.
    """

    data_progress = Signal(object)  # DataProgress: images of the run's image folder decoded so far
    started = Signal(object)
    steps = Signal(list)
    epoch = Signal(object)
    examples = Signal(object)
    compiled = Signal(object)  # CompileReport: torch.compile's time, or why the run went on uncompiled
    ended = Signal(object)
    failed = Signal(str)
    finished = Signal()

    def __init__(self, parent: QObject | None = None, backend: Backend = "process"):
        super().__init__(parent)
        self.background = Worker(self, backend, what="training", poll_ms=1000 // POLL_HZ)
        self.background.yielded.connect(self._on_record)
        self.background.errored.connect(self._on_errored)
        self.background.finished.connect(self._on_finished)
        self._steps: list[StepRecord] = []
        self._heard_end = False

    @property
    def backend(self) -> Backend:
        """Where the next run trains: "process" (the app's way) or "thread" (for measuring what it buys)."""
        return self.background.backend

    @backend.setter
    def backend(self, value: Backend) -> None:
        self.background.backend = value

    @property
    def process(self) -> TrainingProcess | None:
        """The running job (its ``run_dir``, ``alive``, ``exit_code``), None between runs."""
        return self.background.job

    @property
    def running(self) -> bool:
        """True from :meth:`start` until ``finished``."""
        return self.background.running

    @property
    def paused(self) -> bool:
        return self.background.paused

    def start(self, request: RunRequest) -> None:
        """Start a run in a new child process."""
        if self.background.running:
            raise RuntimeError("a run is already in progress")
        self._heard_end = False
        self.background.run(TrainingProcess(request, self.backend))

    def pause(self) -> None:
        self.background.pause()

    def resume(self) -> None:
        self.background.resume()

    def stop(self) -> None:
        """Ask the run to end before its next batch (or cancel its image folder's decoding); ``ended`` follows."""
        self.background.quit()

    def shut_down(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Stop the run and wait for the child (the window is closing): blocks up to ``timeout`` seconds.

        A child still evaluating after that is ended; its run folder then says
        it was stopped (its last checkpoint stays resumable).
        """
        process = self.process
        if process is None:
            return
        self.background.shut_down(timeout)
        if not self._heard_end:
            _mark_cut_short(process.run_dir)

    @Slot(object)
    def _on_record(self, item: object) -> None:
        if isinstance(item, StepRecord):
            if not self._steps:  # sent as one list once this poll's items are through
                QTimer.singleShot(0, self._send_steps)
            self._steps.append(item)
            return
        self._send_steps()
        if isinstance(item, DataProgress):
            self.data_progress.emit(item)
        elif isinstance(item, RunStarted):
            self.started.emit(item)
        elif isinstance(item, EpochRecord):
            self.epoch.emit(item)
        elif isinstance(item, ExamplesReady):
            self.examples.emit(item.examples)
        elif isinstance(item, CompileReport):
            self.compiled.emit(item)
        elif isinstance(item, RunEnded):
            self._heard_end = True
            self.ended.emit(item)

    @Slot()
    def _send_steps(self) -> None:
        if self._steps:
            steps, self._steps = self._steps, []
            self.steps.emit(steps)

    @Slot(object)
    def _on_errored(self, failure: JobFailed) -> None:
        self._send_steps()
        message = failure.message
        if failure.exit_code is None:  # the run said why it failed (its folder says so too)
            self._heard_end = True
        elif self.process is not None:  # the child died without a word
            hint = " Try a smaller batch size." if failure.exit_code == -9 else ""
            message += f"{hint} The run folder {self.process.run_dir} is kept."
        self.failed.emit(message)

    @Slot()
    def _on_finished(self) -> None:
        self._send_steps()
        self.finished.emit()


def _mark_cut_short(run_dir) -> None:
    """Say in run.json that a run ended with the window, if it still says "running"."""
    folder = RunFolder(Path(run_dir))
    if folder.status().get("status") == "running":
        folder.write_status("ended", reason="stopped", message="stopped when the window closed; the final "
                            "evaluation was cut short", epochs_completed=len(folder.read_lines("metrics.jsonl")))
