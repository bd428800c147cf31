"""The lab's worker: a plain function runs on a QThread; its news arrive as signals on the GUI thread."""

from __future__ import annotations

import gc
import threading

import pytest
from PySide6.QtCore import QThread

from convstudio.core.lab.common import LabCancelled, advance
from convstudio.gui.lab.worker import LabWorker


@pytest.fixture
def worker(qtbot):
    made = LabWorker()
    yield made
    assert made.shut_down(5)
    assert not made.running


def test_a_result_comes_back_on_the_gui_thread(qtbot, worker):
    seen = []
    worker.progressed.connect(lambda done, total: seen.append(("progress", done, total)))
    worker.posted.connect(lambda item: seen.append(("posted", item, QThread.currentThread())))
    worker.succeeded.connect(lambda result: seen.append(("result", result)))
    ran_on = []

    def experiment(job):
        ran_on.append(threading.get_ident())
        job.post("halfway")
        job.progress(2, 2)
        return 42

    assert gc.isenabled()
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        worker.start(experiment)
        assert worker.running and not gc.isenabled()  # garbage is collected on the GUI thread meanwhile
        with pytest.raises(RuntimeError):
            worker.start(experiment)  # one experiment at a time
    assert ran_on and ran_on[0] != threading.get_ident()
    assert ("progress", 2, 2) in seen and ("result", 42) in seen
    posted = next(entry for entry in seen if entry[0] == "posted")
    assert posted[1] == "halfway" and posted[2] is QThread.currentThread()  # queued to the GUI thread
    assert not worker.running and gc.isenabled()


def test_cancel_sets_the_flag_the_core_reads(qtbot, worker):
    started = threading.Event()
    outcome = []
    worker.cancelled.connect(lambda message: outcome.append(("cancelled", message)))
    worker.succeeded.connect(lambda result: outcome.append(("result", result)))

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
        worker.cancel()
    assert outcome and outcome[0][0] == "cancelled" and "cancelled after" in outcome[0][1]


def test_a_failure_is_a_message_not_an_exception(qtbot, worker):
    messages = []
    worker.failed.connect(messages.append)

    def broken(job):
        raise ValueError("the design expects 3x32x32 images")

    with qtbot.waitSignal(worker.finished, timeout=10_000):
        worker.start(broken)
    assert messages == ["the design expects 3x32x32 images"]


def test_shut_down_waits_for_the_thread(qtbot, worker):
    def slow(job):
        while not job.should_stop():
            QThread.msleep(5)
        raise LabCancelled("window closing")

    worker.start(slow)
    assert worker.shut_down(10)
    assert not worker.running
