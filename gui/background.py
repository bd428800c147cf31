"""Plain work on a Python thread whose results reach the GUI thread through a queue.

The thread is given a plain function and plain arguments only, never a Qt
object: if a thread held the last reference to a widget's Python wrapper, the
widget would be destroyed on that thread while the GUI thread uses Qt, which
deadlocks PySide. A QTimer on the GUI thread polls the queue while work is
pending and calls back there, with ``progress`` values as the function reports
them and its result (or the exception it raised) at the end.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Slot

POLL_MS = 50


def _run(function: Callable, args: tuple, inbox: queue.Queue) -> None:
    """The thread's body: call ``function(*args, report)`` and post what happens."""
    def report(*values: Any) -> None:
        inbox.put(("progress", values))

    try:
        inbox.put(("done", function(*args, report)))
    except Exception as error:  # noqa: BLE001 - handed to the GUI thread, which says what went wrong
        inbox.put(("failed", error))


class BackgroundTask(QObject):
    """Runs ``function(*args, report)`` on a thread; calls ``on_done(result)`` or ``on_failed(error)`` on the GUI thread.

    ``report(*values)`` inside the function calls ``on_progress(*values)`` on the
    GUI thread (the latest values at each poll).
    """

    def __init__(self, function: Callable, args: tuple, on_done: Callable[[Any], None],
                 on_failed: Callable[[Exception], None], on_progress: Callable[..., None] | None = None,
                 parent: QObject | None = None, name: str = "background-task"):
        super().__init__(parent)
        self._inbox: queue.Queue = queue.Queue()
        self._on_done, self._on_failed, self._on_progress = on_done, on_failed, on_progress
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        # Not a daemon: interpreter exit waits for it rather than tearing torch down under it.
        self._thread = threading.Thread(target=_run, args=(function, args, self._inbox), name=name)
        self.finished = False

    def start(self) -> "BackgroundTask":
        self._thread.start()
        self._timer.start()
        return self

    @Slot()
    def _poll(self) -> None:
        latest_progress = None
        while True:
            try:
                kind, value = self._inbox.get_nowait()
            except queue.Empty:
                break
            if kind == "progress":
                latest_progress = value
                continue
            if latest_progress is not None and self._on_progress is not None:
                self._on_progress(*latest_progress)
            self._timer.stop()
            self.finished = True
            (self._on_done if kind == "done" else self._on_failed)(value)
            return
        if latest_progress is not None and self._on_progress is not None:
            self._on_progress(*latest_progress)
