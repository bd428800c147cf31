"""Background jobs: a plain function run on a thread or in a spawned process, its news collected as lists.

A job is ``function(job, *args)``. ``job`` is the :class:`JobContext` it runs
with: ``job.emit(item)`` sends any picklable object back, ``job.progress(done,
total)`` reports how far it is, and ``job.control`` (a
:class:`~core.training.control.RunControl`) carries the pause and stop flags
that the core's loops already read between steps. A generator function's
yielded values are emitted in turn, and a stop request closes it between two
yields (superqt's ``GeneratorWorker`` works the same way).

:class:`BackgroundJob` starts one job and is steered and read from the other
side: ``pause``/``resume``/``stop`` set events, and :meth:`BackgroundJob.receive`
(which never blocks) returns what arrived since the last call, in order: the
job's own items, :class:`Progress`, then one outcome (:class:`JobReturned`,
:class:`JobFailed` or :class:`JobAborted`) and, last, :class:`JobExited`.

The two backends run the same body (:func:`run_job`):

- ``"process"``: a spawned interpreter (multiprocessing's "spawn" context: no
  forked Qt state). Everything that trains runs here, so the engine never
  shares a GIL with a GUI; the function must be importable (a module-level
  function or a ``functools.partial`` of one) and its arguments picklable. The
  child uses as many torch threads as its parent (when the parent loaded torch).
- ``"thread"``: a Python thread, for short jobs (loading, checking, exporting).

Nothing here knows about Qt; ``gui.background`` turns what :meth:`receive`
returns into signals.
"""

from __future__ import annotations

import inspect
import multiprocessing
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from convstudio.core.training.control import EventRunControl, RunControl

Backend = Literal["thread", "process"]
FLUSH_SECONDS = 0.1  # a child process sends what it gathered at most 10 times a second
PROGRESS_HZ = 30  # at most this many progress reports a second: a bar needs no more


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` steps."""

    done: int
    total: int


@dataclass(frozen=True)
class JobReturned:
    """The job's function returned ``value``."""

    value: Any


@dataclass(frozen=True)
class JobFailed:
    """The job raised, or its process died without a word.

    ``message`` is for the user; ``details`` is a traceback for the log (empty
    when the message says it all: a :class:`JobError`). ``error`` is the
    exception itself when it survived the trip back (always from a thread).
    ``exit_code`` is set only when a child process died without reporting.
    """

    message: str
    details: str = ""
    error: BaseException | None = None
    exit_code: int | None = None


@dataclass(frozen=True)
class JobAborted:
    """The job stopped early because it was asked to (its message says where)."""

    message: str


@dataclass(frozen=True)
class JobExited:
    """The thread or process is gone; always the last item :meth:`BackgroundJob.receive` returns."""

    exit_code: int | None


class JobError(Exception):
    """A failure whose message is for the user as it stands (no traceback is logged unless ``details``)."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


class _Outbox:
    """Sends items as lists: every ``flush_seconds`` (or at once when urgent), or each at once when None.

    Batching matters across a process boundary, where every put pickles and
    wakes the reader; a thread's queue takes each item as it comes.
    """

    def __init__(self, channel, flush_seconds: float | None) -> None:
        self._channel = channel
        self._pending: list = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._flusher = None
        if flush_seconds is not None:
            self._flusher = threading.Thread(target=self._flush_regularly, args=(flush_seconds,),
                                             name="job-outbox", daemon=True)
            self._flusher.start()

    def add(self, item, urgent: bool = False) -> None:
        if self._flusher is None:
            self._channel.put([item])
            return
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
        if self._flusher is not None:
            self._flusher.join()
        self.flush()

    def _flush_regularly(self, seconds: float) -> None:
        while not self._closed.wait(seconds):
            self.flush()


class JobContext:
    """What a job's function receives first: the way back to whoever started it, and its flags."""

    def __init__(self, outbox: _Outbox, control: EventRunControl, abandon_event) -> None:
        self._outbox = outbox
        self._abandon = abandon_event
        self._last_progress = 0.0
        self.control: RunControl = control
        """Pause and stop flags; pass it to the core's loops (``control=job.control``)."""

    def emit(self, item: Any, urgent: bool = False) -> None:
        """Send ``item`` (picklable, for a process) to the other side; ``urgent`` sends it without batching delay."""
        self._outbox.add(item, urgent)

    def flush(self) -> None:
        """Send what was gathered now (before a long computation, say)."""
        self._outbox.flush()

    def progress(self, done: int, total: int) -> None:
        """Report progress; sent at most :data:`PROGRESS_HZ` times a second, and always at the end."""
        now = time.monotonic()
        if done >= total or now - self._last_progress >= 1.0 / PROGRESS_HZ:
            self._last_progress = now
            self._outbox.add(Progress(int(done), int(total)))

    def should_stop(self) -> bool:
        """True once a stop was asked for (Cancel, Stop, or the window closing)."""
        return self.control.stop_requested

    @property
    def abandoned(self) -> bool:
        """True when nobody will wait for optional extras (the window is closing)."""
        return self._abandon.is_set()


def run_job(function: Callable, args: tuple, channel, pause_event, stop_event, abandon_event,
            flush_seconds: float | None = FLUSH_SECONDS, torch_threads: int | None = None) -> None:
    """The body of every job, on its thread or in its process: call ``function(job, *args)``, send the outcome.

    Nothing escapes: an exception becomes :class:`JobFailed` (or :class:`JobAborted`
    when a stop was asked for: the core answers a stop by raising, e.g. LabCancelled).
    ``torch_threads`` sets torch's thread count first (a child takes its parent's).
    """
    in_child = multiprocessing.parent_process() is not None
    if in_child:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is for the parent to handle
    if torch_threads is not None:
        import torch

        torch.set_num_threads(torch_threads)
    outbox = _Outbox(channel, flush_seconds)
    job = JobContext(outbox, EventRunControl(pause_event, stop_event), abandon_event)
    try:
        try:
            outcome = _call(function, args, job)
        except BaseException as error:  # noqa: BLE001 - whatever it was, the other side must hear of it
            outcome = _outcome_of(error, job, crossing=in_child)
        if in_child:
            outcome = _checked_for_pickling(outcome)
        outbox.add(outcome)
    finally:
        outbox.close()


def _call(function: Callable, args: tuple, job: JobContext):
    result = function(job, *args)
    if inspect.isgenerator(result):
        try:
            while True:
                if job.should_stop():
                    result.close()
                    return JobAborted("cancelled")
                job.emit(next(result))
        except StopIteration as end:
            result = end.value
    if job.should_stop():
        return JobAborted("cancelled")
    return JobReturned(result)


def _outcome_of(error: BaseException, job: JobContext, crossing: bool):
    if isinstance(error, JobError):  # the job's own sentence, even while stopping
        return JobFailed(str(error), error.details, _sendable(error, crossing))
    if job.should_stop() and isinstance(error, Exception):
        return JobAborted(str(error) or "cancelled")
    message = str(error) or type(error).__name__
    return JobFailed(message, traceback.format_exc(), _sendable(error, crossing))


def _checked_for_pickling(outcome):
    """``outcome``, or a JobFailed saying why it cannot cross (the queue would drop it silently)."""
    try:
        pickle.dumps(outcome)
    except Exception as error:  # noqa: BLE001 - whatever the reason, say it
        return JobFailed(f"the job's result could not be sent back: {type(error).__name__}: {error}")
    return outcome


def _sendable(error: BaseException, crossing: bool) -> BaseException | None:
    """``error`` if it can cross to the parent (it pickles and unpickles), else None."""
    if not crossing:
        return error
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 - many exceptions take arguments their pickle does not restore
        return None
    return error


def _torch_threads() -> int | None:
    """This process's torch thread count, if torch is loaded: a child trains as this process would."""
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


class BackgroundJob:
    """One job on a thread or in a spawned process: start it, steer it, collect what it sends.

    Call :meth:`receive` regularly (it never blocks) until it returns a
    :class:`JobExited`; :meth:`close` stops the job and waits for it.
    """

    def __init__(self, function: Callable, args: tuple = (), backend: Backend = "thread",
                 name: str = "convstudio-job") -> None:
        if backend not in ("process", "thread"):
            raise ValueError(f"backend must be 'process' or 'thread', not {backend!r}")
        self.backend = backend
        self.name = name
        if backend == "process":
            context = multiprocessing.get_context("spawn")
            self._channel = context.Queue()
            self._pause, self._stop, self._abandon = context.Event(), context.Event(), context.Event()
            self._worker = context.Process(target=run_job, name=name, daemon=True, args=(
                function, tuple(args), self._channel, self._pause, self._stop, self._abandon, FLUSH_SECONDS,
                _torch_threads()))
        else:
            self._channel = queue.SimpleQueue()
            self._pause, self._stop, self._abandon = threading.Event(), threading.Event(), threading.Event()
            # Not a daemon: interpreter exit waits for it rather than tearing torch down under it.
            self._worker = threading.Thread(target=run_job, name=name, args=(
                function, tuple(args), self._channel, self._pause, self._stop, self._abandon, None))
        self._started = False
        self._exit_reported = False

    def start(self) -> None:
        """Start the job (returns at once; a child process takes a few seconds to import torch)."""
        self._worker.start()
        self._started = True

    def pause(self) -> None:
        """Hold the job at its next check of ``job.control`` (jobs that never check run on)."""
        self._pause.set()

    def resume(self) -> None:
        self._pause.clear()

    def stop(self) -> None:
        """Ask the job to end at its next check (a paused job is woken to see it)."""
        self._stop.set()
        self._pause.clear()

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def alive(self) -> bool:
        """True while the job's thread or process runs."""
        return self._started and self._worker.is_alive()

    @property
    def exit_code(self) -> int | None:
        """The child's exit status (None for a thread, or while it runs)."""
        return getattr(self._worker, "exitcode", None)

    def receive(self) -> list:
        """Everything sent since the last call, in order; never blocks.

        Once the job is gone and everything it sent was read, the list ends
        with one :class:`JobExited`.
        """
        items: list = []
        if not self._started:
            return items
        alive = self._worker.is_alive()  # read before draining: what it sent before ending is then queued
        while True:
            try:
                items.extend(self._channel.get_nowait())
            except queue.Empty:
                break
            except (EOFError, OSError):  # a child died mid-message
                break
        if not alive and not self._exit_reported:
            self._exit_reported = True
            items.append(JobExited(self.exit_code))
        return items

    def close(self, timeout: float = 20.0) -> list:
        """Stop the job, wait up to ``timeout`` seconds for it, and return what it sent meanwhile.

        A child process still running after that is terminated; a thread
        cannot be, and is left to end at its next check (``alive`` says so).
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
        if self.backend == "process" and not self._worker.is_alive():
            self._channel.close()
            self._channel.join_thread()
        return received
