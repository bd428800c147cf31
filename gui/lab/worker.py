"""Running a lab experiment off the GUI thread, with progress and a cooperative cancel.

The experiments in :mod:`core.lab` are plain functions that take ``progress``
and ``should_stop`` callbacks (or a :class:`~core.training.control.RunControl`)
and know nothing of Qt. :class:`LabWorker` runs one of them at a time on a
:class:`QThread`: the panel hands it a function of a :class:`LabJob`, the job
passes its callbacks on to the core, and what happens comes back as queued
signals to ``@Slot`` methods on the GUI thread. Cancel sets the RunControl's
stop flag, which the core reads between steps and answers with
:class:`~core.lab.common.LabCancelled`; threads are never killed.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot

from convstudio.core.lab.common import LabCancelled
from convstudio.core.training.control import RunControl

log = logging.getLogger(__name__)

PROGRESS_HZ = 30  # at most this many progress signals a second: the bar needs no more
SHUT_DOWN_TIMEOUT_S = 30.0  # closing waits this long for the experiment to reach its next step
GC_INTERVAL_MS = 500  # how often the GUI thread collects garbage while an experiment runs


class _GuiThreadCollector:
    """While experiments run, Python's cyclic garbage collection happens on the GUI thread only.

    The collector runs in whichever thread happens to allocate when a threshold
    is crossed. Run on a worker thread, it would destroy Qt objects that became
    garbage on the GUI thread (a cleared plot's items, in reference cycles) from
    the wrong thread, which can crash Qt. So while a worker runs, automatic
    collection is off and a GUI-thread timer collects instead (pyqtgraph's
    GarbageCollector does the same for whole applications).
    """

    def __init__(self) -> None:
        self.running = 0
        self.was_enabled = False
        self.timer: QTimer | None = None

    def acquire(self) -> None:
        self.running += 1
        if self.running > 1:
            return
        self.was_enabled = gc.isenabled()
        gc.disable()
        self.timer = QTimer(QCoreApplication.instance())
        self.timer.setInterval(GC_INTERVAL_MS)
        self.timer.timeout.connect(self.collect)
        self.timer.start()

    def release(self) -> None:
        self.running -= 1
        if self.running > 0 or self.timer is None:
            return
        self.timer.stop()
        self.timer.deleteLater()
        self.timer = None
        if self.was_enabled:
            gc.enable()

    @staticmethod
    def collect() -> None:
        """Collect the generations whose thresholds were crossed, as the automatic collector would."""
        thresholds, counts = gc.get_threshold(), gc.get_count()
        for generation in range(3):
            if counts[generation] <= thresholds[generation]:
                break
            gc.collect(generation)


_collector = _GuiThreadCollector()


class LabJob:
    """What the experiment's function receives on the worker thread: callbacks for the core.

    ``progress(done, total)`` and ``should_stop()`` have the signatures of
    :data:`core.lab.common.Progress` and :data:`~core.lab.common.ShouldStop`;
    ``control`` is the same stop flag as a RunControl for the training-based
    experiments; ``post(item)`` sends any plain object (an epoch record, say) to
    the panel as it happens.
    """

    def __init__(self, thread: _JobThread, control: RunControl):
        self._thread = thread
        self.control = control
        self._last_emit = 0.0

    def progress(self, done: int, total: int) -> None:
        """Report progress; emitted at most :data:`PROGRESS_HZ` times a second, and always at the end."""
        now = time.monotonic()
        if done >= total or now - self._last_emit >= 1.0 / PROGRESS_HZ:
            self._last_emit = now
            self._thread.progressed.emit(int(done), int(total))

    def should_stop(self) -> bool:
        """True once Cancel was pressed (or the window is closing)."""
        return self.control.stop_requested

    def post(self, item: Any) -> None:
        """Send ``item`` to the panel now (queued; it arrives on the GUI thread)."""
        self._thread.posted.emit(item)


class _JobThread(QThread):
    """Calls ``function(job)`` once; its signals are emitted from the worker thread."""

    progressed = Signal(int, int)
    posted = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal(str)

    def __init__(self, function: Callable[[LabJob], Any], control: RunControl, parent: QObject | None = None):
        super().__init__(parent)
        self.function = function
        self.job = LabJob(self, control)

    def run(self) -> None:  # noqa: D401 - QThread's entry point, on the worker thread
        try:
            result = self.function(self.job)
        except LabCancelled as stop:
            self.cancelled.emit(str(stop))
        except Exception as error:  # noqa: BLE001 - any failure is shown to the user, never raised in Qt
            log.warning("lab experiment failed", exc_info=True)  # the panel shows the message; this the traceback
            self.failed.emit(str(error) or type(error).__name__)
        else:
            if self.job.should_stop():
                self.cancelled.emit("cancelled")
            else:
                self.succeeded.emit(result)


class LabWorker(QObject):
    """One experiment at a time: :meth:`start`, :meth:`cancel`, :meth:`shut_down`.

    Signals (on the GUI thread): ``progressed(done, total)`` and ``posted(item)``
    while it runs, then one of ``succeeded(result)``, ``failed(message)`` or
    ``cancelled(message)``, and ``finished()`` last, once the thread has ended.
    """

    progressed = Signal(int, int)
    posted = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal(str)
    finished = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread: _JobThread | None = None
        self.control = RunControl()

    @property
    def running(self) -> bool:
        """True from :meth:`start` until ``finished``."""
        return self._thread is not None

    def start(self, function: Callable[[LabJob], Any]) -> None:
        """Run ``function(job)`` on a new thread; its return value comes back in ``succeeded``."""
        if self._thread is not None:
            raise RuntimeError("an experiment is already running")
        self.control = RunControl()
        thread = _JobThread(function, self.control, self)
        thread.progressed.connect(self._on_progressed)
        thread.posted.connect(self._on_posted)
        thread.succeeded.connect(self._on_succeeded)
        thread.failed.connect(self._on_failed)
        thread.cancelled.connect(self._on_cancelled)
        thread.finished.connect(self._on_thread_finished)
        self._thread = thread
        _collector.acquire()
        thread.start()

    def cancel(self) -> None:
        """Ask the experiment to stop at its next step; ``cancelled`` follows."""
        self.control.stop()

    def shut_down(self, timeout: float = SHUT_DOWN_TIMEOUT_S) -> bool:
        """Cancel and wait for the thread (the window is closing). False if it did not end in time."""
        thread = self._thread
        if thread is None:
            return True
        self.control.stop()
        ended = thread.wait(int(timeout * 1000))
        if not ended:
            log.warning("a lab experiment did not stop within %.0f s", timeout)
            return False
        self._on_thread_finished()
        return True

    # -- relays: queued from the worker thread ---------------------------------------------------
    @Slot(int, int)
    def _on_progressed(self, done: int, total: int) -> None:
        self.progressed.emit(done, total)

    @Slot(object)
    def _on_posted(self, item: object) -> None:
        self.posted.emit(item)

    @Slot(object)
    def _on_succeeded(self, result: object) -> None:
        self.succeeded.emit(result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.failed.emit(message)

    @Slot(str)
    def _on_cancelled(self, message: str) -> None:
        self.cancelled.emit(message)

    @Slot()
    def _on_thread_finished(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:  # already handled by shut_down
            return
        # Drop the job (it holds the experiment's data) and the thread <-> job cycle here, on the GUI thread.
        thread.function = thread.job = None
        thread.deleteLater()
        _collector.release()
        self.finished.emit()
