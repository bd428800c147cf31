"""Background work in the app: one job at a time off the GUI thread, its news as Qt signals.

:class:`Worker` runs a :mod:`core.jobs` job, ``function(job, *args)``, on a
thread (short jobs: loading images, checking gradients, exporting) or in a
spawned process (every job that trains: the engine then never shares a GIL with
the GUI). Either way the signals are the same, modelled on superqt's workers:
``yielded(item)`` for each item the job emits or yields, ``progressed(done,
total)``, then one of ``returned(value)``, ``errored(JobFailed)`` or
``aborted(message)``, and ``finished()`` last, once the thread or process has
ended. :meth:`Worker.quit` asks the job to stop at its next step (cooperative:
nothing is killed), :meth:`Worker.pause`/:meth:`Worker.resume` hold it.

Safe by construction: the thread or process is given plain data only and
answers in plain data, through a queue that a QTimer of this QObject drains
on the GUI thread; every signal is emitted there, and no Qt object is ever
referenced from the other side. What remains is Python's cyclic garbage
collector, which runs in whichever thread happens to allocate: on a worker
thread it could free Qt objects that became garbage on the GUI thread (a
cleared plot's items). So while a thread job runs, automatic collection is
off and a GUI-thread timer collects instead (pyqtgraph's GarbageCollector
does the same for whole applications); a process job needs no such care.
A thread job must not call ``gc.collect()`` itself; jobs that churn through
memory for long belong in the process anyway.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal, Slot

from convstudio.core.jobs import (
    Backend, BackgroundJob, JobAborted, JobExited, JobFailed, JobReturned, Progress,
)

log = logging.getLogger(__name__)

POLL_MS = 50  # how often the GUI thread reads what the job sent (a child flushes every 100 ms)
SHUT_DOWN_TIMEOUT_S = 30.0  # closing waits this long for a job to reach its next step
GC_INTERVAL_MS = 500  # how often the GUI thread collects garbage while a thread job runs


class _GuiThreadCollector:
    """While thread jobs run, cyclic garbage is collected on the GUI thread only (see the module's docstring).

    It keeps the thread jobs it was given; a job leaves on :meth:`release`, or
    at the next tick once its thread has ended (a worker deleted mid-job never
    releases), and automatic collection comes back with the last one.
    """

    def __init__(self) -> None:
        self.jobs: list[BackgroundJob] = []
        self.was_enabled = False
        self.timer: QTimer | None = None

    def acquire(self, job: BackgroundJob) -> None:
        if not self.jobs:
            self.was_enabled = gc.isenabled()
            gc.disable()
            self.timer = QTimer(QCoreApplication.instance())
            self.timer.setInterval(GC_INTERVAL_MS)
            self.timer.timeout.connect(self._on_tick)
            self.timer.start()
        self.jobs.append(job)

    def release(self, job: BackgroundJob) -> None:
        self.jobs = [held for held in self.jobs if held is not job]
        if self.jobs or self.timer is None:
            return
        self.timer.stop()
        self.timer.deleteLater()
        self.timer = None
        if self.was_enabled:
            gc.enable()

    def _on_tick(self) -> None:
        self.collect()
        for job in [held for held in self.jobs if not held.alive]:
            self.release(job)

    @staticmethod
    def collect() -> None:
        """Collect the generations whose thresholds were crossed, as the automatic collector would."""
        thresholds, counts = gc.get_threshold(), gc.get_count()
        for generation in range(3):
            if counts[generation] <= thresholds[generation]:
                break
            gc.collect(generation)


_collector = _GuiThreadCollector()


def crash_message(what: str, exit_code: int | None) -> str:
    """What to say when a child process ended without reporting (killed, or crashed)."""
    if exit_code is not None and exit_code < 0:
        signal_number = -exit_code
        hint = " (the system may have run out of memory)" if signal_number == 9 else ""
        return f"The {what} process was ended by signal {signal_number}{hint}."
    return f"The {what} process ended unexpectedly (exit status {exit_code})."


class Worker(QObject):
    """Runs one job at a time on ``backend`` ("thread" or "process"): :meth:`start`, :meth:`quit`, :meth:`shut_down`.

    ``backend`` may be changed between jobs. For "process", the function must
    be importable (module level, or a ``functools.partial`` of one) and its
    arguments picklable. ``what`` names the job in crash messages.
    """

    yielded = Signal(object)
    progressed = Signal(int, int)
    returned = Signal(object)
    errored = Signal(object)  # a core.jobs.JobFailed
    aborted = Signal(str)
    finished = Signal()

    def __init__(self, parent: QObject | None = None, backend: Backend = "thread", what: str = "background",
                 poll_ms: int = POLL_MS):
        super().__init__(parent)
        self.backend = backend
        self.what = what
        self.job: BackgroundJob | None = None
        self._outcome_heard = False
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self._on_poll)

    @property
    def running(self) -> bool:
        """True from :meth:`start` until ``finished``."""
        return self.job is not None

    @property
    def paused(self) -> bool:
        return self.job is not None and self.job.paused

    def start(self, function: Callable[..., Any], *args: Any) -> None:
        """Run ``function(job, *args)`` on this worker's backend."""
        self.run(BackgroundJob(function, args, self.backend, name=f"convstudio-{self.what}"))

    def run(self, job: BackgroundJob) -> None:
        """Start a job made elsewhere (a subclass of BackgroundJob that knows more, say)."""
        if self.job is not None:
            raise RuntimeError("a job is already running")
        self._outcome_heard = False
        if job.backend == "thread":
            _collector.acquire(job)
        try:
            job.start()
        except BaseException:  # a function that does not pickle for a process, say: nothing started
            _collector.release(job)
            raise
        self.job = job
        self._timer.start()

    def quit(self) -> None:
        """Ask the job to stop at its next step; ``aborted`` follows (or the job's own ending)."""
        if self.job is not None:
            self.job.stop()

    def pause(self) -> None:
        if self.job is not None:
            self.job.pause()

    def resume(self) -> None:
        if self.job is not None:
            self.job.resume()

    def shut_down(self, timeout: float = SHUT_DOWN_TIMEOUT_S) -> bool:
        """Stop the job and wait for it (the window is closing); False if a thread did not end in time.

        A child process still running after ``timeout`` seconds is ended.
        """
        job = self.job
        if job is None:
            return True
        self._timer.stop()
        self._dispatch(job.close(timeout))
        if self.job is not None:  # a thread that has not reached its next step: keep listening
            log.warning("a %s job did not stop within %.0f s", self.what, timeout)
            self._timer.start()
            return False
        return True

    @Slot()
    def _on_poll(self) -> None:
        if self.job is not None:
            self._dispatch(self.job.receive())

    def _dispatch(self, items: list) -> None:
        """Turn what the job sent into signals, in order; progress only at its latest value."""
        progress: Progress | None = None
        for item in items:
            if isinstance(item, Progress):
                progress = item
                continue
            if progress is not None and isinstance(item, (JobReturned, JobFailed, JobAborted, JobExited)):
                self.progressed.emit(progress.done, progress.total)
                progress = None
            if isinstance(item, JobReturned):
                self._outcome_heard = True
                self.returned.emit(item.value)
            elif isinstance(item, JobFailed):
                self._outcome_heard = True
                if item.details:  # an unexpected error: the traceback is for whoever reads the log
                    log.warning("a %s job failed:\n%s", self.what, item.details)
                self.errored.emit(item)
            elif isinstance(item, JobAborted):
                self._outcome_heard = True
                self.aborted.emit(item.message)
            elif isinstance(item, JobExited):
                if not self._outcome_heard:
                    self.errored.emit(JobFailed(crash_message(self.what, item.exit_code), exit_code=item.exit_code))
                self._finish()
            else:
                self.yielded.emit(item)
        if progress is not None:
            self.progressed.emit(progress.done, progress.total)

    def _finish(self) -> None:
        self._timer.stop()
        job, self.job = self.job, None
        _collector.release(job)
        self.finished.emit()


def create_worker(function: Callable[..., Any], *args: Any, parent: QObject, backend: Backend = "thread",
                  connect: dict[str, Callable] | None = None, what: str = "background") -> Worker:
    """Start ``function(job, *args)`` on a worker of its own, which deletes itself once finished.

    ``connect`` maps signal names to handlers (as superqt's ``create_worker``
    takes ``_connect``); they are called on the GUI thread.
    """
    worker = Worker(parent, backend, what)
    for name, handler in (connect or {}).items():
        getattr(worker, name).connect(handler)
    worker.finished.connect(worker.deleteLater)
    worker.start(function, *args)
    return worker
