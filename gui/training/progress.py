"""The words of a run's progress: folder decoding, epoch, batch, images per second, time left, messages (no Qt)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from convstudio.core.training.records import RunStarted, StepRecord


def sentence(message: str) -> str:
    """The engine's lower-case message as a sentence: "finished 5 epochs" -> "Finished 5 epochs."."""
    message = message.strip().rstrip(".")
    return f"{message[:1].upper()}{message[1:]}." if message else ""


def format_duration(seconds: float) -> str:
    """``1:05:09``, ``4:07`` or ``12 s``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    if minutes:
        return f"{minutes}:{seconds:02d}"
    return f"{seconds} s"


def decoding_text(done: int, total: int) -> str:
    """The bar's words while a run's image folder decodes: ``Decoding image folder: 1,200 of 50,000 images``."""
    if done >= total:
        return f"Image folder decoded: {total:,} images"
    return f"Decoding image folder: {done:,} of {total:,} images"


def decoding_status(folder: str, done: int, total: int) -> str:
    """The status line under the bar while a run's image folder decodes, and once it has."""
    if done >= total:
        return f"Image folder {folder} decoded ({total:,} images); preparing the run…"
    return (f"Decoding the image folder {folder} on all cores, once: later runs open it at once. "
            "Stop cancels the decoding.")


@dataclass
class RunProgress:
    """Counts a run's steps as they arrive and estimates the time left from the wall clock.

    The rate is measured over the steps seen since the first report (so it
    includes validation passes), not taken from one batch's speed.
    """

    epochs: int
    batches_per_epoch: int
    start_epoch: int = 0
    step: int = 0
    epoch: int = 0
    batch: int = 0
    images_per_second: float = 0.0
    _first: tuple[float, int] | None = field(default=None, repr=False)
    _last_time: float = 0.0

    @classmethod
    def from_started(cls, record: RunStarted) -> "RunProgress":
        progress = cls(record.epochs, record.batches_per_epoch, record.start_epoch)
        progress.step = record.start_epoch * record.batches_per_epoch
        progress.epoch = record.start_epoch
        return progress

    @property
    def total_steps(self) -> int:
        return self.epochs * self.batches_per_epoch

    @property
    def fraction(self) -> float:
        return self.step / self.total_steps if self.total_steps else 0.0

    def add(self, record: StepRecord, now: float | None = None) -> None:
        """Take the newest step record of a list."""
        now = time.monotonic() if now is None else now
        if self._first is None:
            self._first = (now, record.step)
        self.step, self.epoch, self.batch = record.step, record.epoch, record.batch
        self.images_per_second = record.images_per_second
        self._last_time = now

    def seconds_left(self, now: float | None = None) -> float | None:
        """Estimated seconds to the last step, or None before the rate is known."""
        if self._first is None:
            return None
        started, first_step = self._first
        elapsed = (now if now is not None else self._last_time) - started
        done = self.step - first_step
        if done <= 0 or elapsed <= 0:
            return None
        return (self.total_steps - self.step) * elapsed / done

    def text(self) -> str:
        """``Epoch 2/10 · batch 34/156 · 1,234 img/s · 1:23 left``."""
        parts = [f"Epoch {self.epoch + 1}/{self.epochs}", f"batch {self.batch + 1}/{self.batches_per_epoch}"]
        if self.images_per_second > 0:
            parts.append(f"{self.images_per_second:,.0f} img/s")
        left = self.seconds_left()
        if left is not None:
            parts.append(f"{format_duration(left)} left")
        return " · ".join(parts)
