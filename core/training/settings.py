"""Training settings: one typed model, saved with the design and in every run folder.

Field descriptions say units and why; the GUI builds its editors from them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from convstudio.core.data.augment import AugmentationSettings
from convstudio.core.initialisation import InitScheme

OptimizerName = Literal["sgd", "adagrad", "rmsprop", "adam", "lbfgs"]
ScheduleName = Literal["constant", "step", "cosine", "one_cycle"]
DeviceChoice = Literal["auto", "cpu", "cuda", "mps"]
Precision = Literal["fp32", "bf16", "fp16"]


class TrainingSettings(BaseModel):
    """Everything that decides how a design is trained, besides the design itself."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    dataset: str = Field(
        default="shapes",
        description="shapes (built in, no download), cifar10, mnist, fashion-mnist, or a folder of class subfolders.",
    )
    data_limit: int | None = Field(default=None, ge=10, description="Use at most this many training images (quick runs).")
    val_fraction: float = Field(default=0.1, ge=0.01, le=0.5, description="Share of the training set held out for validation.")
    epochs: int = Field(default=10, ge=1, le=10_000, description="Passes over the training set.")
    batch_size: int = Field(default=128, ge=1, le=65_536, description="Images per mini-batch (M in eq. 35).")
    optimizer: OptimizerName = Field(default="adam", description="sgd, adagrad, rmsprop (eq. 38), adam (eq. 39) or lbfgs (quasi-Newton).")
    learning_rate: float = Field(default=1e-3, gt=0, le=10, description="eta: step size.")
    momentum: float = Field(default=0.9, ge=0, lt=1, description="SGD momentum (0 for plain SGD, eq. 19).")
    nesterov: bool = Field(default=False, description="Nesterov momentum for SGD.")
    rho: float = Field(default=0.99, ge=0, lt=1, description="RMSprop's decay rho of r (eq. 38); PyTorch calls it alpha.")
    beta1: float = Field(default=0.9, ge=0, lt=1, description="Adam's rho^1, decay of the first moment s (eq. 39).")
    beta2: float = Field(default=0.999, ge=0, lt=1, description="Adam's rho^2, decay of the second moment r (eq. 39).")
    delta: float = Field(default=1e-8, gt=0, le=1, description="delta: keeps the adaptive step finite (PyTorch's eps).")
    l2_penalty: float = Field(default=0.0, ge=0, le=1, description="lambda in lambda * ||theta||^2 on weights (not biases or batch-norm).")
    schedule: ScheduleName = Field(default="constant", description="Learning-rate schedule over the run.")
    step_epochs: int = Field(default=10, ge=1, description="step schedule: multiply the rate by step_gamma every this many epochs.")
    step_gamma: float = Field(default=0.1, gt=0, le=1, description="step schedule: factor applied at each step.")
    early_stopping: bool = Field(default=False, description="Stop when validation loss has not improved for `patience` epochs, and restore the best weights.")
    patience: int = Field(default=5, ge=1, le=1000, description="Epochs without improvement before early stopping.")
    augmentation: AugmentationSettings = Field(default_factory=AugmentationSettings)
    init: InitScheme = Field(default="pytorch_default", description="Weight initialisation (lecture: C / sqrt(d), eq. 27).")
    init_gain: float = Field(default=1.0, gt=0, le=10, description="C in eq. (27).")
    device: DeviceChoice = Field(default="auto", description="auto picks CUDA, then Apple MPS, then CPU.")
    precision: Precision = Field(default="fp32", description="bf16/fp16 autocast (CUDA only).")
    channels_last: bool = Field(default=False, description="channels-last memory format (faster convolutions on recent GPUs).")
    sync_batchnorm: bool = Field(default=False, description="Several processes: batch statistics over all processes' batches (SyncBatchNorm).")
    seed: int = Field(default=0, ge=0, description="Seeds initialisation, shuffling, augmentation and dropout masks.")
    state_every: int = Field(default=25, ge=1, le=100_000, description="Collect optimizer state and gradient norms every this many steps.")
    report_every: int = Field(default=10, ge=1, le=10_000, description="Read losses back from the device every this many steps.")
    init_from: str | None = Field(
        default=None, description="Transfer learning: a run folder or weights file whose matching layers start this run.")
    init_weights: Literal["best", "last"] = Field(default="best", description="Which weights of the source run: best validation loss, or last epoch.")
    freeze: list[str] = Field(default_factory=list, description="Layers (by name, e.g. conv1) that get no updates and no L2 penalty.")
    freeze_through: str | None = Field(default=None, description="Freeze every layer up to and including this one.")
    transfer_lr_scale: float = Field(default=1.0, gt=0, le=1, description="Learning-rate factor for the layers that took transferred weights.")
    unfreeze_at_epoch: int | None = Field(default=None, ge=1, description="Epoch (1-based) from which frozen layers train too.")
    mc_samples: int = Field(default=20, ge=1, le=1000, description="T: Monte Carlo dropout samples for the final comparison (eq. 22-24).")
