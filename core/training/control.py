"""Cooperative pause, resume and stop: flags the training loop reads between batches.

Threads are never killed. ``stop()`` takes effect before the next batch;
``pause()`` makes the loop wait, between batches, until ``resume()`` or ``stop()``.
"""

from __future__ import annotations

import threading
import time


class RunControl:
    """Thread-safe flags shared by whoever drives a run and the training loop."""

    # Who asked the run to stop, for its end message: "the user", "SIGTERM", ...
    stop_reason = "the user"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def stop(self, reason: str | None = None) -> None:
        """Ask the run to end before its next batch; ``reason`` (e.g. "SIGTERM") goes into its end message."""
        if reason:
            self.stop_reason = reason
        self._stop.set()
        self._running.set()  # wake a paused loop so it can see the stop

    def pause(self) -> None:
        """Hold the run before its next batch."""
        self._running.clear()

    def resume(self) -> None:
        """Let a paused run go on."""
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        """True once stop() was called."""
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        """True while paused."""
        return not self._running.is_set()

    def wait_while_paused(self, poll_seconds: float = 0.1) -> float:
        """Block while paused (the training thread calls this between batches); returns the seconds waited."""
        if self._running.is_set():
            return 0.0
        started = time.monotonic()
        while not self._running.wait(poll_seconds):
            pass
        return time.monotonic() - started


class EventRunControl(RunControl):
    """A RunControl whose flags are events shared with another process (or thread)."""

    def __init__(self, pause_event, stop_event) -> None:  # noqa: D107 - the base's flags are not used
        self._pause_event = pause_event
        self._stop_event = stop_event

    def stop(self, reason: str | None = None) -> None:
        if reason:
            self.stop_reason = reason
        self._stop_event.set()

    def pause(self) -> None:
        self._pause_event.set()

    def resume(self) -> None:
        self._pause_event.clear()

    @property
    def stop_requested(self) -> bool:
        return self._stop_event.is_set()

    @property
    def paused(self) -> bool:
        return self._pause_event.is_set() and not self._stop_event.is_set()

    def wait_while_paused(self, poll_seconds: float = 0.1) -> float:
        """Block while paused; returns the seconds waited (the engine keeps them out of its speed)."""
        if not self._pause_event.is_set():
            return 0.0
        started = time.monotonic()
        while self._pause_event.is_set() and not self._stop_event.is_set():
            self._stop_event.wait(poll_seconds)
        return time.monotonic() - started
