"""A run's records as TensorBoard event files, so a run opens in the viewer practitioners already use.

:func:`with_tensorboard` passes a run's records through unchanged and writes
them, as they go by, under ``RUN_DIR/tensorboard`` with TensorBoard's own
writer (``torch.utils.tensorboard``, which needs the ``tensorboard`` package:
``pip install 'convstudio[tensorboard]'``). Tags:

- ``train/loss``, ``train/accuracy``, ``train/learning_rate``: every step;
- ``epoch/train_loss``, ``epoch/val_loss``, ``epoch/train_accuracy``,
  ``epoch/val_accuracy``: every epoch, at the epoch's last step;
- ``gradient_norm/<layer>``, ``update_ratio/<layer>``: every ``state_every`` steps;
- ``optimizer/<layer>/<name>`` (Adam's s, r, s_hat, r_hat; RMSprop's r; ...) and
  ``optimizer/<layer>/step_mean``: as often;
- ``test/loss``, ``test/accuracy``: once, when the run ends.

A resumed run purges the events after its checkpoint's step, as the run
folder's metrics are cut back to its last finished epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from convstudio.core.training.records import EpochRecord, Record, RunEnded, RunStarted, StepRecord

FOLDER = "tensorboard"
MISSING_MESSAGE = ("TensorBoard files need the tensorboard package: pip install 'convstudio[tensorboard]' "
                   "(or pip install tensorboard), or turn the TensorBoard setting off")


def tensorboard_available() -> bool:
    """True when TensorBoard's writer can be imported."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


class TensorBoardWriter:
    """Writes the records of one run into ``log_dir``; call :meth:`close` at the end."""

    def __init__(self, log_dir: str | Path, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)
        self._step = 0
        self._batches_per_epoch = 1

    def write(self, record: Record) -> None:
        """Add the scalars of one record."""
        w = self._writer
        if isinstance(record, RunStarted):
            self._batches_per_epoch = max(record.batches_per_epoch, 1)
            self._step = record.start_epoch * self._batches_per_epoch
            w.add_text("run", f"{record.dataset}: {record.train_size} training images, {record.total_params:,} "
                              f"parameters, on {record.device_reason}", self._step)
        elif isinstance(record, StepRecord):
            self._step = record.step
            w.add_scalar("train/loss", record.loss, record.step)
            w.add_scalar("train/accuracy", record.accuracy, record.step)
            w.add_scalar("train/learning_rate", record.learning_rate, record.step)
            for stat in record.layer_stats or ():
                w.add_scalar(f"gradient_norm/{stat.layer}", stat.grad_norm, record.step)
                w.add_scalar(f"update_ratio/{stat.layer}", stat.update_ratio, record.step)
            for state in record.optimizer_state or ():
                for name, value in state.values.items():
                    w.add_scalar(f"optimizer/{state.layer}/{name}", value, record.step)
                w.add_scalar(f"optimizer/{state.layer}/step_mean", state.step_mean, record.step)
        elif isinstance(record, EpochRecord):
            step = (record.epoch + 1) * self._batches_per_epoch
            for name in ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "learning_rate"):
                w.add_scalar(f"epoch/{name}", getattr(record, name), step)
        elif isinstance(record, RunEnded):
            if record.test_loss is not None:
                w.add_scalar("test/loss", record.test_loss, self._step)
                w.add_scalar("test/accuracy", record.test_accuracy, self._step)
            w.add_text("run", f"ended: {record.reason.value}: {record.message}", self._step)
            w.flush()

    def close(self) -> None:
        self._writer.close()


def with_tensorboard(records: Iterator[Record], run_dir: Callable[[], Path | None]) -> Iterator[Record]:
    """``records`` unchanged, each also written under ``run_dir()/tensorboard``.

    ``run_dir`` is asked when the run has started (RunStarted): None (no run
    folder, or a process other than rank 0) writes nothing.
    """
    writer = None
    try:
        for record in records:
            if isinstance(record, RunStarted) and writer is None and (folder := run_dir()) is not None:
                purge = record.start_epoch * record.batches_per_epoch + 1 if record.start_epoch else None
                writer = TensorBoardWriter(Path(folder) / FOLDER, purge)
            if writer is not None:
                writer.write(record)
            yield record
    finally:
        if writer is not None:
            writer.close()
