"""How much memory training a design needs, estimated before anything is built, and how much there is.

The estimate adds what training keeps at once (float32 throughout):

- the parameters, their gradients and the optimizer's state per parameter
  (Adam keeps s and r: 2 values; SGD with momentum, RMSprop and AdaGrad: 1;
  L-BFGS: 2 per remembered step);
- the activations of one batch: every layer's output is kept for the backward
  pass, and the backward pass holds gradients of the same size, so twice the
  shape engine's activation values per image, times the batch size;
- a fixed cost per layer for its module and autograd records.

It is an estimate (PyTorch's workspaces and the dataset come on top); it exists
to refuse a design that cannot fit, with numbers and the fix, instead of being
killed by the operating system minutes later. No torch at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from convstudio.core.shape_records import DesignReport

FLOAT_BYTES = 4
PER_LAYER_BYTES = 16 * 1024  # a module object, its parameters' wrappers and its autograd records
LBFGS_HISTORY = 10  # core.training.optimizers' history_size


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes training a design needs at one batch size, by part."""

    parameters: int  # weights and their gradients
    optimizer_state: int
    activations: int  # one training batch, forward and backward
    layers: int  # per-layer overhead
    batch_size: int

    @property
    def total(self) -> int:
        return self.parameters + self.optimizer_state + self.activations + self.layers

    def describe(self) -> str:
        """``1.2 GiB (parameters 4.4 MiB, optimizer state 8.7 MiB, activations of a batch of 128 1.2 GiB)``."""
        return (f"{format_bytes(self.total)} (weights and gradients {format_bytes(self.parameters)}, optimizer "
                f"state {format_bytes(self.optimizer_state)}, activations of a batch of {self.batch_size} "
                f"{format_bytes(self.activations)})")


def optimizer_values_per_parameter(optimizer: str, momentum: float = 0.0) -> int:
    """Floats the optimizer keeps per parameter."""
    if optimizer == "adam":
        return 2
    if optimizer == "lbfgs":
        return 2 * LBFGS_HISTORY + 2
    if optimizer == "sgd":
        return 1 if momentum > 0 else 0
    return 1  # adagrad's accumulator, rmsprop's r


def estimate_training_memory(report: DesignReport, batch_size: int, optimizer: str,
                             momentum: float = 0.0) -> MemoryEstimate:
    """What training the design of ``report`` needs with ``batch_size`` images per batch."""
    params = report.total_params
    return MemoryEstimate(
        parameters=2 * FLOAT_BYTES * params,
        optimizer_state=FLOAT_BYTES * params * optimizer_values_per_parameter(optimizer, momentum),
        activations=2 * FLOAT_BYTES * report.activation_values * batch_size,
        layers=PER_LAYER_BYTES * sum(1 for _ in report.walk()),  # layers inside blocks count too
        batch_size=batch_size,
    )


def largest_fitting_batch(report: DesignReport, available: int, optimizer: str, momentum: float = 0.0) -> int:
    """The largest batch size whose estimate fits in ``available`` bytes (0 when not even one image fits)."""
    fixed = estimate_training_memory(report, 0, optimizer, momentum).total
    per_image = 2 * FLOAT_BYTES * report.activation_values
    if fixed >= available:
        return 0
    return (available - fixed) // per_image if per_image else 1 << 30


def available_host_memory() -> int | None:
    """Bytes the operating system can still give this process (psutil, else /proc/meminfo), or None if unknown."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return int(psutil.virtual_memory().available)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_memory(device) -> int | None:
    """Free bytes where training runs: the CUDA device's free memory, else the host's; None if unknown."""
    if getattr(device, "type", str(device)) == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return available_host_memory()


def memory_problem(report: DesignReport, batch_size: int, optimizer: str, momentum: float,
                   available: int | None, where: str = "this machine") -> str | None:
    """A sentence refusing a design whose estimate exceeds ``available`` bytes, with the fix; None when it fits."""
    if available is None:
        return None
    estimate = estimate_training_memory(report, batch_size, optimizer, momentum)
    if estimate.total <= available:
        return None
    fitting = largest_fitting_batch(report, available, optimizer, momentum)
    fix = (f"lower the batch size to {fitting} or less, or use fewer or smaller layers" if fitting >= 1
           else "use fewer or smaller layers (even one image per batch does not fit)")
    return (f"training this design needs about {estimate.describe()}, but {where} has "
            f"{format_bytes(available)} free: {fix}")


def format_bytes(count: int) -> str:
    """``1536`` as ``1.5 KiB``; binary units up to TiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
