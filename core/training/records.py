"""What the engine reports: small immutable records of plain data.

The GUI turns them into chart points; the CLI prints them; the run folder keeps
them as JSON lines. None of them holds a tensor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum


class EndReason(str, Enum):
    """Why a run ended."""

    FINISHED = "finished"
    STOPPED = "stopped"
    EARLY_STOPPING = "early_stopping"
    NON_FINITE_LOSS = "non_finite_loss"
    OUT_OF_MEMORY = "out_of_memory"
    ERROR = "error"

    @property
    def label(self) -> str:
        """A few words for lists and progress bars: "finished", "early stop", "diverged"..."""
        return _END_LABELS[self]

    @property
    def completed(self) -> bool:
        """The run ended as planned: its last epoch, or early stopping (exit status 0 on the command line)."""
        return self in (EndReason.FINISHED, EndReason.EARLY_STOPPING)

    @property
    def failed(self) -> bool:
        """The run broke: a non-finite loss, out of memory, or an error (the app shows these as errors)."""
        return self in (EndReason.NON_FINITE_LOSS, EndReason.OUT_OF_MEMORY, EndReason.ERROR)


_END_LABELS = {
    EndReason.FINISHED: "finished", EndReason.STOPPED: "stopped", EndReason.EARLY_STOPPING: "early stop",
    EndReason.NON_FINITE_LOSS: "diverged", EndReason.OUT_OF_MEMORY: "out of memory", EndReason.ERROR: "failed",
}


def end_reason_label(reason: str) -> str:
    """:attr:`EndReason.label` for a reason as run.json keeps it; other words as they are, "unknown" for none."""
    try:
        return EndReason(reason).label
    except ValueError:
        return reason or "unknown"


def ended_as_planned(reason: str) -> bool:
    """:attr:`EndReason.completed` for a reason as run.json and the lab's reports keep it."""
    try:
        return EndReason(reason).completed
    except ValueError:
        return False


@dataclass(frozen=True)
class RunStarted:
    """Sent once, before the first batch."""

    run_dir: str | None
    device: str
    device_reason: str
    dataset: str
    train_size: int
    val_size: int
    test_size: int
    batches_per_epoch: int
    epochs: int
    start_epoch: int  # > 0 when resuming
    total_params: int
    classes: tuple[str, ...]
    transfer_summary: str | None = None  # which layers took transferred weights, and why others did not
    frozen_layers: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayerStat:
    """Gradient and update size of one design layer's parameters at one step."""

    layer: str
    grad_norm: float
    weight_norm: float
    update_ratio: float  # ||delta theta|| / ||theta||


@dataclass(frozen=True)
class OptimizerLayerState:
    """The optimizer's own state for one layer, as the lecture names it.

    ``values`` holds norms over the layer's parameters, by the lecture's names:
    Adam: s, r, s_hat, r_hat; RMSprop: r; AdaGrad: accumulator; SGD: momentum.
    ``step_mean`` and ``step_max`` are the mean and largest |delta theta| entry
    of the effective step, e.g. eta * s_hat / (delta + sqrt(r_hat)) for Adam.
    """

    layer: str
    values: dict[str, float]
    step_mean: float
    step_max: float


@dataclass(frozen=True)
class StepRecord:
    """One optimisation step (one mini-batch)."""

    step: int  # 1-based across the run
    epoch: int  # 0-based
    batch: int  # 0-based within the epoch
    batches_per_epoch: int
    loss: float
    accuracy: float
    learning_rate: float
    images_per_second: float
    layer_stats: tuple[LayerStat, ...] | None = None
    optimizer_state: tuple[OptimizerLayerState, ...] | None = None


@dataclass(frozen=True)
class EpochRecord:
    """Metrics at the end of one epoch; one line of metrics.jsonl."""

    epoch: int  # 0-based
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    learning_rate: float
    seconds: float
    best_epoch: int
    images_per_second: float

    def to_json_dict(self) -> dict:
        """The metrics.jsonl line (epochs counted from 1 for people)."""
        data = asdict(self)
        data["epoch"] = self.epoch + 1
        data["best_epoch"] = self.best_epoch + 1
        return data


@dataclass(frozen=True)
class DropoutComparison:
    """The two prediction rules for dropout networks on the test set (eq. 22-24)."""

    weight_scaling_accuracy: float
    weight_scaling_nll: float
    monte_carlo_accuracy: float
    monte_carlo_nll: float
    samples: int  # T


@dataclass(frozen=True)
class RunEnded:
    """Sent once, last: why the run ended, and its final results."""

    reason: EndReason
    message: str
    epochs_completed: int
    best_epoch: int | None
    best_val_loss: float | None
    test_loss: float | None = None
    test_accuracy: float | None = None
    confusion: tuple[tuple[int, ...], ...] | None = None  # rows: true class, columns: predicted
    dropout: DropoutComparison | None = None
    run_dir: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CompileReport:
    """Sent after the first training step when ``compile`` is on: compile time, or why the run went on eagerly.

    ``seconds`` were spent compiling and are left out of images per second.
    ``compiled`` is False when compiling failed and training continues uncompiled.
    """

    compiled: bool
    seconds: float
    message: str


Record = RunStarted | StepRecord | EpochRecord | RunEnded | CompileReport
