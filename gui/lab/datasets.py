"""The last dataset a lab experiment loaded, kept for the next one.

Generating the built-in shapes takes seconds and reading CIFAR10 longer; a
student running the dropout lab twice on the same run should wait once. (The
experiments that train, ensembles and remedies, load their data in their own
child process.) One dataset is kept (the uint8 tensors, about
180 MB for CIFAR10); the lock makes the cache safe to use from worker threads.
"""

from __future__ import annotations

import threading

from convstudio.core.data import DatasetSplits, load_dataset
from convstudio.core.training.settings import TrainingSettings

_lock = threading.Lock()
_kept: tuple[tuple, DatasetSplits] | None = None


def cached_dataset(name: str, *, val_fraction: float = 0.1, seed: int = 0, limit: int | None = None) -> DatasetSplits:
    """:func:`core.data.load_dataset` with these arguments, or the same splits as last time."""
    global _kept
    key = (name, val_fraction, seed, limit)
    with _lock:
        if _kept is not None and _kept[0] == key:
            return _kept[1]
    data = load_dataset(name, val_fraction=val_fraction, seed=seed, limit=limit)
    with _lock:
        _kept = (key, data)
    return data


def run_data(settings: TrainingSettings) -> DatasetSplits:
    """The dataset a run with ``settings`` trains on (as :func:`core.lab.data_access.run_dataset`), cached."""
    return cached_dataset(settings.dataset, val_fraction=settings.val_fraction, seed=settings.seed,
                          limit=settings.data_limit)


def forget() -> None:
    """Drop the kept dataset (tests; or to free its memory)."""
    global _kept
    with _lock:
        _kept = None
