"""Running the training engine in a child process, so that a GUI beside it never slows it down.

A training thread inside the GUI process shares the GIL with the GUI's Python
work (drawing charts), which cost the engine up to half its speed; a child
process runs at the headless engine's speed. :class:`TrainingProcess` starts
one (multiprocessing's "spawn" context: a fresh interpreter, no forked Qt
state). The design and settings cross the boundary as JSON; records come back
as lists through a queue, at most about ten lists a second; pause, resume and
stop are events the child maps to the engine's :class:`RunControl`.

The same child function also runs on a thread (``backend="thread"``), for
measuring what the process buys and for callers that cannot spawn.
Nothing here knows about Qt: whoever drives it calls :meth:`TrainingProcess.receive`.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convstudio.core.training.control import RunControl

FLUSH_SECONDS = 0.1  # how often the child sends what it has gathered: 10 lists a second at most
EXAMPLE_COUNT = 32  # test images whose predictions come back when a run ends


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
class RunFailed:
    """The run could not start, or the child failed outside the engine's own error handling."""

    message: str
    details: str = ""  # a traceback, for unexpected errors only


@dataclass(frozen=True)
class ExamplesReady:
    """Predictions on a few test images, sent just before the RunEnded record."""

    examples: Any  # core.training.predictions.ExamplePredictions


@dataclass(frozen=True)
class ChildExited:
    """Sent by the parent side (not the child) when the child is gone; always the last message."""

    exit_code: int | None


class EventRunControl(RunControl):
    """A RunControl whose flags are events shared with another process (or thread)."""

    def __init__(self, pause_event, stop_event) -> None:  # noqa: D107 - the base's flags are not used
        self._pause_event = pause_event
        self._stop_event = stop_event

    def stop(self) -> None:
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


class _Outbox:
    """Gathers records and sends them as lists: at once for the rare ones, every FLUSH_SECONDS for steps."""

    def __init__(self, channel) -> None:
        self._channel = channel
        self._pending: list = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._flusher = threading.Thread(target=self._flush_regularly, name="record-flusher", daemon=True)
        self._flusher.start()

    def add(self, item, urgent: bool = False) -> None:
        with self._lock:
            self._pending.append(item)
        if urgent:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            items, self._pending = self._pending, []
        if items:
            self._channel.put(items)

    def close(self) -> None:
        self._closed.set()
        self._flusher.join()
        self.flush()

    def _flush_regularly(self) -> None:
        while not self._closed.wait(FLUSH_SECONDS):
            self.flush()


def run_in_child(request: RunRequest, channel, pause_event, stop_event, abandon_event) -> None:
    """The child's work: train as ``request`` says, sending lists of records through ``channel``.

    Ends with the RunEnded record (preceded by ExamplesReady when the run has
    test results) or with a RunFailed message. ``abandon_event`` (set when the
    window closes) skips the example predictions.
    """
    if multiprocessing.parent_process() is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is for the parent to handle
    outbox = _Outbox(channel)
    try:
        _train(request, outbox, EventRunControl(pause_event, stop_event), abandon_event)
    except BaseException as error:  # noqa: BLE001 - whatever it was, the parent must hear of it
        outbox.add(_failure(error))
    finally:
        outbox.close()


def _train(request: RunRequest, outbox: _Outbox, control: EventRunControl, abandon_event) -> None:
    from convstudio.core.design import design_from_json
    from convstudio.core.training.engine import TrainingRun
    from convstudio.core.training.predictions import predict_examples, save_results
    from convstudio.core.training.records import RunEnded, StepRecord
    from convstudio.core.training.settings import TrainingSettings

    design = design_from_json(request.design_json, "the design") if request.design_json else None
    settings = TrainingSettings.model_validate_json(request.settings_json) if request.settings_json else None
    run = TrainingRun(design, settings, request.run_dir, control=control, resume=request.resume)
    for record in run.records():
        if not isinstance(record, RunEnded):
            outbox.add(record, urgent=not isinstance(record, StepRecord))
            continue
        outbox.flush()
        examples = None
        prepared = run.prepared
        if record.test_accuracy is not None and not abandon_event.is_set() and request.example_count > 0:
            examples = predict_examples(prepared.model, prepared.data, prepared.device, request.example_count)
            outbox.add(ExamplesReady(examples))
        if record.run_dir is not None:
            save_results(record.run_dir, record, tuple(prepared.data.classes), examples)
        outbox.add(record, urgent=True)


def _failure(error: BaseException) -> RunFailed:
    from pydantic import ValidationError

    from convstudio.core.design import DesignFileError
    from convstudio.core.training.run_folder import RunFolderError
    from convstudio.core.training.setup import TrainingSetupError

    if isinstance(error, (TrainingSetupError, RunFolderError, DesignFileError)):
        return RunFailed(str(error))
    if isinstance(error, ValidationError):
        return RunFailed(f"the training settings are not valid: {error}")
    if isinstance(error, MemoryError):
        return RunFailed("the training process ran out of memory: lower the batch size or limit the data")
    return RunFailed(f"training failed: {type(error).__name__}: {error}", traceback.format_exc())


class TrainingProcess:
    """One run in a child process (or thread): start it, steer it, collect what it sends.

    Call :meth:`receive` regularly (it never blocks) until it returns a
    :class:`ChildExited`; :meth:`close` stops the run and waits for the child.
    """

    def __init__(self, request: RunRequest, backend: str = "process") -> None:
        if backend not in ("process", "thread"):
            raise ValueError(f"backend must be 'process' or 'thread', not {backend!r}")
        self.request = request
        self.backend = backend
        if backend == "process":
            context = multiprocessing.get_context("spawn")
            self._channel = context.Queue()
            self._pause, self._stop, self._abandon = context.Event(), context.Event(), context.Event()
            worker_class = context.Process
        else:
            self._channel = queue.Queue()
            self._pause, self._stop, self._abandon = threading.Event(), threading.Event(), threading.Event()
            worker_class = threading.Thread
        self._worker = worker_class(target=run_in_child, name="convstudio-training", daemon=True,
                                    args=(request, self._channel, self._pause, self._stop, self._abandon))
        self._started = False
        self._exit_reported = False

    @property
    def run_dir(self) -> Path:
        """The run folder the child writes."""
        return Path(self.request.run_dir)

    def start(self) -> None:
        """Start the child (returns at once; the child takes a few seconds to import torch)."""
        self._worker.start()
        self._started = True

    def pause(self) -> None:
        self._pause.set()

    def resume(self) -> None:
        self._pause.clear()

    def stop(self) -> None:
        """Ask the run to end before its next batch (it still evaluates on the test set)."""
        self._stop.set()
        self._pause.clear()

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    @property
    def alive(self) -> bool:
        """True while the child runs."""
        return self._started and self._worker.is_alive()

    @property
    def exit_code(self) -> int | None:
        """The child's exit status (None for a thread, or while it runs)."""
        return getattr(self._worker, "exitcode", None)

    def receive(self) -> list:
        """Everything the child sent since the last call, in order; never blocks.

        After the child is gone and everything it sent was read, the list ends
        with one :class:`ChildExited`.
        """
        items: list = []
        if not self._started:
            return items
        alive = self._worker.is_alive()  # read before draining: what it sent before dying is then in the queue
        while True:
            try:
                items.extend(self._channel.get_nowait())
            except queue.Empty:
                break
            except (EOFError, OSError):  # the child died mid-message
                break
        if not alive and not self._exit_reported:
            self._exit_reported = True
            items.append(ChildExited(self.exit_code))
        return items

    def close(self, timeout: float = 20.0) -> list:
        """Stop the run, wait up to ``timeout`` seconds for the child, and return what it sent meanwhile.

        A child still running after that (a long final evaluation) is terminated.
        """
        if not self._started:
            return []
        self._abandon.set()
        self.stop()
        received: list = []
        deadline = time.monotonic() + timeout
        # Keep reading while waiting: a child blocked on a full pipe would never exit.
        while self._worker.is_alive() and time.monotonic() < deadline:
            received.extend(self.receive())
            self._worker.join(0.05)
        if self._worker.is_alive() and self.backend == "process":
            self._worker.terminate()
            self._worker.join(5)
        received.extend(self.receive())
        if self.backend == "process":
            self._channel.close()
            self._channel.join_thread()
        return received
