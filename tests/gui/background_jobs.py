"""Jobs for the background worker's tests that run in a child process: importable, and free of Qt."""

from __future__ import annotations

import gc
import os
import time


def count_up(job, n: int) -> tuple[int, int]:
    """Emit 0..n-1 with progress; return their sum and this process's id."""
    for i in range(n):
        job.emit(i)
        job.progress(i + 1, n)
    return sum(range(n)), os.getpid()


def until_stopped(job) -> None:
    """Run until a stop is asked for, then raise as the core's loops do."""
    job.emit("running")
    while not job.should_stop():
        time.sleep(0.01)
    raise RuntimeError("stopped at the next step")


def broken(job) -> None:
    raise ValueError("the design expects 3x32x32 images")


def exit_abruptly(job) -> None:
    """Die without a word, as a process killed by the system does."""
    os._exit(3)


def churn_and_collect(job, rounds: int) -> int:
    """Allocate reference cycles and force collections here, in the child, between emits."""
    for round_ in range(rounds):
        cycles = []
        for _ in range(2000):
            node: dict = {}
            node["self"] = node
            cycles.append(node)
        del cycles
        gc.collect()
        job.emit(round_)
    return rounds
