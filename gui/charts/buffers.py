"""Growing numpy buffers that the live charts draw from (no Qt here).

The training worker appends records as they arrive; the charts' timer reads
the buffers a few times a second. Appending is amortised O(1) (capacity
doubles), reading is a view, and each group of curves carries a version
number so a chart redraws only when its data changed.
"""

from __future__ import annotations

import math

import numpy as np

from convstudio.core.training.records import EpochRecord, StepRecord
from convstudio.core.training.run_index import RunHistory

SMOOTHING = 0.9  # weight of the past in the loss's exponential moving average (as TensorBoard's slider)


class Series:
    """An (x, y) series that grows."""

    def __init__(self, capacity: int = 1024):
        self._x = np.empty(capacity)
        self._y = np.empty(capacity)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, x: float, y: float) -> None:
        if self._size == self._x.shape[0]:
            self._x = np.resize(self._x, 2 * self._size)
            self._y = np.resize(self._y, 2 * self._size)
        self._x[self._size] = x
        self._y[self._size] = y
        self._size += 1

    def extend(self, xs, ys) -> None:
        for x, y in zip(xs, ys):
            self.append(x, y)

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        """Views of the filled part (valid until the next append)."""
        return self._x[: self._size], self._y[: self._size]

    def last(self) -> tuple[float, float] | None:
        return (float(self._x[self._size - 1]), float(self._y[self._size - 1])) if self._size else None


class RunCurves:
    """Every curve of one run, grouped as the charts show them.

    - ``steps``: per batch: loss, smoothed loss, accuracy, learning rate.
    - ``epochs``: per epoch, at the step that ended it: train and validation loss and accuracy.
    - ``layers``: per layer, every ``state_every`` steps: gradient norm and update-to-weight ratio.
    - ``optimizer``: per layer and state name (s, r, s_hat, r_hat, ...) and the effective step.
    """

    def __init__(self) -> None:
        self.loss, self.smoothed_loss, self.accuracy, self.learning_rate = Series(), Series(), Series(), Series()
        self.train_loss, self.val_loss, self.train_accuracy, self.val_accuracy = Series(64), Series(64), Series(64), Series(64)
        self.grad_norm: dict[str, Series] = {}
        self.update_ratio: dict[str, Series] = {}
        self.optimizer_state: dict[str, dict[str, Series]] = {}  # layer -> name -> series
        self.versions = {"steps": 0, "epochs": 0, "layers": 0, "optimizer": 0}
        self._smoothed: float | None = None
        self.last_step = 0

    def add_steps(self, records: list[StepRecord]) -> None:
        """Append a list of step records (as the worker receives them)."""
        layers_changed = False
        for record in records:
            step = record.step
            self.last_step = step
            self.loss.append(step, record.loss)
            self._smooth(step, record.loss)
            self.accuracy.append(step, record.accuracy)
            self.learning_rate.append(step, record.learning_rate)
            if record.layer_stats:
                layers_changed = True
                for stat in record.layer_stats:
                    self.grad_norm.setdefault(stat.layer, Series(256)).append(step, stat.grad_norm)
                    self.update_ratio.setdefault(stat.layer, Series(256)).append(step, stat.update_ratio)
            if record.optimizer_state:
                layers_changed = True
                for state in record.optimizer_state:
                    named = self.optimizer_state.setdefault(state.layer, {})
                    for name, value in state.values.items():
                        named.setdefault(name, Series(256)).append(step, value)
                    named.setdefault("step_mean", Series(256)).append(step, state.step_mean)
                    named.setdefault("step_max", Series(256)).append(step, state.step_max)
        if records:
            self.versions["steps"] += 1
        if layers_changed:
            self.versions["layers"] += 1
            self.versions["optimizer"] += 1

    def add_epoch(self, record: EpochRecord) -> None:
        """Append one epoch's metrics, placed at the last step seen."""
        x = self.last_step
        self.train_loss.append(x, record.train_loss)
        self.val_loss.append(x, record.val_loss)
        self.train_accuracy.append(x, record.train_accuracy)
        self.val_accuracy.append(x, record.val_accuracy)
        self.versions["epochs"] += 1

    def add_history(self, history: RunHistory) -> None:
        """Fill from a run folder's files (reopening a run, or before resuming it)."""
        for step, loss, accuracy, rate in zip(history.steps, history.loss, history.accuracy, history.learning_rate):
            self.loss.append(step, loss)
            self._smooth(step, loss)
            self.accuracy.append(step, accuracy)
            self.learning_rate.append(step, rate)
            self.last_step = step
        for x, tl, vl, ta, va in zip(history.epoch_steps, history.train_loss, history.val_loss,
                                     history.train_accuracy, history.val_accuracy):
            self.train_loss.append(x, tl)
            self.val_loss.append(x, vl)
            self.train_accuracy.append(x, ta)
            self.val_accuracy.append(x, va)
        for key in self.versions:
            self.versions[key] += 1

    def _smooth(self, step: int, loss: float) -> None:
        if math.isfinite(loss):
            self._smoothed = loss if self._smoothed is None else SMOOTHING * self._smoothed + (1 - SMOOTHING) * loss
        if self._smoothed is not None:
            self.smoothed_loss.append(step, self._smoothed)

