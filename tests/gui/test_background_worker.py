"""The background worker: a plain function runs on a thread or in a child process; its news arrive as signals.

Every signal is emitted on the GUI thread, whichever backend ran the job;
Cancel is a flag the job reads; a failure is a message; and garbage
collection, forced on the GUI thread and in the job, never frees a Qt object
away from the GUI thread.
"""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest
from background_jobs import broken, churn_and_collect, count_up, exit_abruptly, until_stopped
from PySide6.QtCore import QObject, QThread, QTimer

from convstudio.core.lab.common import LabCancelled, advance
from convstudio.gui.background import Worker, create_worker

TIMEOUT_MS = 60_000


@pytest.fixture
def worker(qtbot):
    made = Worker()
    yield made
    assert made.shut_down(5)
    assert not made.running


def test_a_result_comes_back_on_the_gui_thread(qtbot, worker):
    seen = []
    worker.progressed.connect(lambda done, total: seen.append(("progress", done, total)))
    worker.yielded.connect(lambda item: seen.append(("posted", item, QThread.currentThread())))
    worker.returned.connect(lambda result: seen.append(("result", result)))
    ran_on = []

    def experiment(job):
        ran_on.append(threading.get_ident())
        job.emit("halfway")
        job.progress(2, 2)
        return 42

    assert gc.isenabled()
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        worker.start(experiment)
        assert worker.running and not gc.isenabled()  # garbage is collected on the GUI thread meanwhile
        with pytest.raises(RuntimeError):
            worker.start(experiment)  # one job at a time
    assert ran_on and ran_on[0] != threading.get_ident()
    assert ("progress", 2, 2) in seen and ("result", 42) in seen
    posted = next(entry for entry in seen if entry[0] == "posted")
    assert posted[1] == "halfway" and posted[2] is QThread.currentThread()  # emitted on the GUI thread
    assert not worker.running and gc.isenabled()


def test_cancel_sets_the_flag_the_core_reads(qtbot, worker):
    started = threading.Event()
    outcome = []
    worker.aborted.connect(lambda message: outcome.append(("cancelled", message)))
    worker.returned.connect(lambda result: outcome.append(("result", result)))

    def endless(job):
        started.set()
        step = 0
        while True:  # a core loop: advance() raises LabCancelled once should_stop() is True
            advance(step, 10**9, job.progress, job.should_stop)
            step += 1
            QThread.msleep(5)

    worker.start(endless)
    assert started.wait(10)
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        worker.quit()
    assert outcome and outcome[0][0] == "cancelled" and "cancelled after" in outcome[0][1]


def test_a_failure_is_a_message_not_an_exception(qtbot, worker):
    failures = []
    worker.errored.connect(failures.append)

    def broken_here(job):
        raise ValueError("the design expects 3x32x32 images")

    with qtbot.waitSignal(worker.finished, timeout=10_000):
        worker.start(broken_here)
    assert [failure.message for failure in failures] == ["the design expects 3x32x32 images"]
    assert isinstance(failures[0].error, ValueError) and "broken_here" in failures[0].details


def test_shut_down_waits_for_the_thread(qtbot, worker):
    def slow(job):
        while not job.should_stop():
            QThread.msleep(5)
        raise LabCancelled("window closing")

    worker.start(slow)
    assert worker.shut_down(10)
    assert not worker.running


def test_a_generator_yields_each_value_and_quit_closes_it(qtbot, worker):
    values, closed, outcome = [], [], []
    worker.yielded.connect(values.append)
    worker.aborted.connect(outcome.append)

    def numbers(job):
        try:
            for i in range(10**9):
                yield i
                QThread.msleep(2)
        finally:
            closed.append(True)

    worker.start(numbers)
    qtbot.waitUntil(lambda: len(values) >= 3, timeout=10_000)
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        worker.quit()
    assert values[:3] == [0, 1, 2] and closed == [True] and outcome == ["cancelled"]


def test_create_worker_connects_starts_and_cleans_up(qtbot):
    parent = QObject()
    results = []
    made = create_worker(lambda job, a, b: a + b, 2, 3, parent=parent, connect={"returned": results.append})
    with qtbot.waitSignal(made.finished, timeout=10_000):
        pass
    qtbot.waitUntil(lambda: not parent.findChildren(Worker), timeout=5_000)  # deleted once finished
    assert results == [5]


# -- the process backend ----------------------------------------------------------------------------
@pytest.fixture
def process_worker(qtbot):
    made = Worker(backend="process", what="test")
    yield made
    assert made.shut_down(10)
    assert not made.running


def test_a_process_job_sends_items_progress_and_its_result(qtbot, process_worker):
    import os

    items, progress, results = [], [], []
    process_worker.yielded.connect(items.append)
    process_worker.progressed.connect(lambda done, total: progress.append((done, total)))
    process_worker.returned.connect(results.append)
    with qtbot.waitSignal(process_worker.finished, timeout=TIMEOUT_MS):
        process_worker.start(count_up, 50)
        assert gc.isenabled()  # nothing runs beside the GUI thread in this process
    assert items == list(range(50)) and progress[-1] == (50, 50)
    total, pid = results[0]
    assert total == sum(range(50)) and pid != os.getpid()


def test_a_process_job_is_cancelled_fails_or_dies_with_a_message(qtbot, process_worker):
    running, aborted, failures = [], [], []
    process_worker.yielded.connect(running.append)
    process_worker.aborted.connect(aborted.append)
    process_worker.errored.connect(failures.append)
    process_worker.start(until_stopped)
    qtbot.waitUntil(lambda: running == ["running"], timeout=TIMEOUT_MS)
    with qtbot.waitSignal(process_worker.finished, timeout=TIMEOUT_MS):
        process_worker.quit()
    assert aborted == ["stopped at the next step"] and not failures

    with qtbot.waitSignal(process_worker.finished, timeout=TIMEOUT_MS):
        process_worker.start(broken)
    assert failures[-1].message == "the design expects 3x32x32 images"
    assert "ValueError" in failures[-1].details and isinstance(failures[-1].error, ValueError)

    with qtbot.waitSignal(process_worker.finished, timeout=TIMEOUT_MS):
        process_worker.start(exit_abruptly)
    assert failures[-1].exit_code == 3 and "test process ended unexpectedly (exit status 3)" in failures[-1].message


def test_a_process_job_needs_an_importable_function(process_worker):
    with pytest.raises(Exception):  # a local function does not pickle: refused at start, nothing runs
        process_worker.start(lambda job: 1)
    assert not process_worker.running


# -- garbage collection ------------------------------------------------------------------------------
class _Widgetish(QObject):
    """A Qt object caught in a reference cycle, as a cleared plot's items often are."""

    def __init__(self):
        super().__init__()
        self.me = self


def test_qt_garbage_is_freed_on_the_gui_thread_while_a_thread_job_churns(qtbot, worker):
    """The GUI thread leaves Qt garbage about and forces collections; the job allocates cycles non-stop.

    Without the GUI-thread collector, the job's allocations would trigger
    collections on its own thread, which would free some of that Qt garbage there.
    """
    gui_thread = threading.get_ident()
    freed_on: list[int] = []

    def make_qt_garbage() -> None:
        for _ in range(20):
            weakref.finalize(_Widgetish(), lambda: freed_on.append(threading.get_ident()))

    def churn(job):
        for round_ in range(40):
            cycles = []
            for _ in range(3000):  # far past gen0's threshold: automatic collection would run here
                node: dict = {}
                node["self"] = node
                cycles.append(node)
            job.emit(round_)
            time.sleep(0.002)
        return "done"

    results = []
    worker.returned.connect(results.append)
    worker.yielded.connect(lambda _round: make_qt_garbage())
    collections = QTimer()
    collections.timeout.connect(gc.collect)
    collections.start(40)
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
        worker.start(churn)
    collections.stop()
    gc.collect()
    assert results == ["done"]
    assert len(freed_on) >= 40 * 20 and set(freed_on) == {gui_thread}


def test_a_process_job_runs_through_collections_on_both_sides(qtbot, process_worker):
    rounds, results = [], []
    process_worker.yielded.connect(rounds.append)
    process_worker.returned.connect(results.append)
    pressure = QTimer()
    pressure.timeout.connect(gc.collect)
    pressure.start(2)
    with qtbot.waitSignal(process_worker.finished, timeout=TIMEOUT_MS):
        process_worker.start(churn_and_collect, 40)
    pressure.stop()
    assert rounds == list(range(40)) and results == [40]
