"""Drives one training run in a child process and turns what it sends into Qt signals.

The engine runs in a :class:`~core.training.worker_process.TrainingProcess`
(a spawned process: the GUI's Python work cannot hold the engine's GIL). A
QTimer on the GUI thread collects the child's record lists :data:`POLL_HZ`
times a second (reading a queue that never blocks), so every signal here is
emitted on the GUI thread and step records arrive in lists, never one signal
per batch.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from convstudio.core.training.records import EpochRecord, RunEnded, RunStarted, StepRecord
from convstudio.core.training.run_folder import RunFolder
from convstudio.core.training.worker_process import (
    ChildExited, ExamplesReady, RunFailed, RunRequest, TrainingProcess,
)

_log = logging.getLogger(__name__)
POLL_HZ = 10  # the child sends at most 10 lists a second
CLOSE_TIMEOUT_S = 20.0  # closing the window waits this long for the run to end, then ends the child


class TrainingWorker(QObject):
    """One run at a time: :meth:`start`, :meth:`pause`, :meth:`resume`, :meth:`stop`, :meth:`shut_down`.

    Signals, in the order a run sends them: ``started(RunStarted)``,
    ``steps(list[StepRecord])`` and ``epoch(EpochRecord)`` repeatedly,
    ``examples(ExamplePredictions)`` when there are test results, then
    ``ended(RunEnded)``; or ``failed(str)`` when the run could not start or the
    child died. ``finished()`` comes last in every case.
    """

    started = Signal(object)
    steps = Signal(list)
    epoch = Signal(object)
    examples = Signal(object)
    ended = Signal(object)
    failed = Signal(str)
    finished = Signal()

    def __init__(self, parent: QObject | None = None, backend: str = "process"):
        super().__init__(parent)
        self.backend = backend
        self.process: TrainingProcess | None = None
        self._heard_end = False
        self._timer = QTimer(self)
        self._timer.setInterval(1000 // POLL_HZ)
        self._timer.timeout.connect(self._on_poll)

    @property
    def running(self) -> bool:
        """True from :meth:`start` until ``finished``."""
        return self.process is not None

    @property
    def paused(self) -> bool:
        return self.process is not None and self.process.paused

    def start(self, request: RunRequest) -> None:
        """Start a run in a new child process."""
        if self.process is not None:
            raise RuntimeError("a run is already in progress")
        self._heard_end = False
        self.process = TrainingProcess(request, self.backend)
        self.process.start()
        self._timer.start()

    def pause(self) -> None:
        if self.process is not None:
            self.process.pause()

    def resume(self) -> None:
        if self.process is not None:
            self.process.resume()

    def stop(self) -> None:
        """Ask the run to end before its next batch; ``ended`` follows once it has evaluated."""
        if self.process is not None:
            self.process.stop()

    def shut_down(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Stop the run and wait for the child (the window is closing): blocks up to ``timeout`` seconds.

        A child still evaluating after that is ended; its run folder then says
        it was stopped (its last checkpoint stays resumable).
        """
        if self.process is None:
            return
        self._timer.stop()
        process = self.process
        items = process.close(timeout)
        heard_end = any(isinstance(item, (RunEnded, RunFailed)) for item in items) or self._heard_end
        self._dispatch(items)
        if not heard_end:
            _mark_cut_short(process.run_dir)
        if self.process is not None:  # the child never said goodbye
            self._finish()

    @Slot()
    def _on_poll(self) -> None:
        if self.process is not None:
            self._dispatch(self.process.receive())

    def _dispatch(self, items: list) -> None:
        steps: list[StepRecord] = []
        for item in items:
            if isinstance(item, StepRecord):
                steps.append(item)
                continue
            if steps:
                self.steps.emit(steps)
                steps = []
            if isinstance(item, RunStarted):
                self.started.emit(item)
            elif isinstance(item, EpochRecord):
                self.epoch.emit(item)
            elif isinstance(item, ExamplesReady):
                self.examples.emit(item.examples)
            elif isinstance(item, RunEnded):
                self._heard_end = True
                self.ended.emit(item)
            elif isinstance(item, RunFailed):
                self._heard_end = True
                if item.details:  # an unexpected error: the traceback is for whoever reads the log
                    _log.error("training failed in the child process:\n%s", item.details)
                self.failed.emit(item.message)
            elif isinstance(item, ChildExited):
                if not self._heard_end:
                    self.failed.emit(_crash_message(item.exit_code, self.process))
                self._finish()
        if steps:
            self.steps.emit(steps)

    def _finish(self) -> None:
        self._timer.stop()
        self.process = None
        self.finished.emit()


def _mark_cut_short(run_dir) -> None:
    """Say in run.json that a run ended with the window, if it still says "running"."""
    folder = RunFolder(run_dir)
    if folder.status().get("status") == "running":
        folder.write_status("ended", reason="stopped", message="stopped when the window closed; the final "
                            "evaluation was cut short", epochs_completed=len(folder.read_lines("metrics.jsonl")))


def _crash_message(exit_code: int | None, process: TrainingProcess | None) -> str:
    where = f" The run folder {process.run_dir} is kept." if process is not None else ""
    if exit_code is not None and exit_code < 0:
        signal_number = -exit_code
        hint = " (the system may have run out of memory: try a smaller batch size)" if signal_number == 9 else ""
        return f"The training process was ended by signal {signal_number}{hint}.{where}"
    return f"The training process ended unexpectedly (exit status {exit_code}).{where}"
