"""Training settings: one typed model, saved with the design and in every run folder.

Field descriptions say units and why; each field's :class:`EditorHint` gives its
label, its section of the settings form and when its editor is shown. The GUI
builds its editors from both.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from convstudio.core.data.augmentation_settings import AugmentationSettings
from convstudio.core.editor_hints import EditorHint, when
from convstudio.core.initialisation import InitScheme

OptimizerName = Literal["sgd", "adagrad", "rmsprop", "adam", "lbfgs"]
ScheduleName = Literal["constant", "step", "cosine", "one_cycle"]
DeviceChoice = Literal["auto", "cpu", "cuda", "mps"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Layout = Literal["auto", "on", "off"]  # what auto means: core.training.fast_defaults


# When the transfer-learning and batch-norm editors are shown (EditorHint.shown_when).
def _transferring(settings: Any, design: Any = None) -> bool:
    """A source run is chosen: which of its weights, and their learning-rate factor, matter."""
    return bool(settings.init_from)


def _freezing(settings: Any, design: Any = None) -> bool:
    """Some layers are frozen: when they thaw matters."""
    return bool(settings.freeze or settings.freeze_through)


def _may_freeze(settings: Any, design: Any = None) -> bool:
    """Freezing goes with a source run, and stays shown while it is set, so it never hides."""
    return _transferring(settings) or _freezing(settings)


def _image_folder(settings: Any, design: Any = None) -> bool:
    """Only an image folder (not a built-in or torchvision name) can hold unreadable images."""
    return settings.dataset.strip().lower() not in ("shapes", "cifar10", "mnist", "fashion-mnist")


def _has_batchnorm(settings: Any, design: Any = None) -> bool:
    """Only batch-norm layers keep batch statistics to synchronise."""
    from convstudio.core.layers import every_layer  # inside blocks too

    return design is None or any(layer.kind == "batchnorm" for layer in every_layer(design.layers))


class TrainingSettings(BaseModel):
    """Everything that decides how a design is trained, besides the design itself."""

    # allow_inf_nan=False: "--lr nan" is refused as not a finite number (NaN passes every range check).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    dataset: Annotated[str, EditorHint("dataset", "Data", widget="dataset")] = Field(
        default="shapes",
        description="shapes (built in, no download), cifar10, mnist, fashion-mnist, or a folder of class subfolders.",
    )
    data_limit: Annotated[int | None, EditorHint("image limit", "Data")] = Field(
        default=None, ge=10, description="Use at most this many training images (quick runs).")
    val_fraction: Annotated[float, EditorHint("validation share", "Data")] = Field(
        default=0.1, ge=0.01, le=0.5, description="Share of the training set held out for validation.")
    skip_unreadable: Annotated[bool, EditorHint("skip unreadable images", "Data", _image_folder)] = Field(
        default=False,
        description="Image folders: leave out images that cannot be decoded (they are listed) "
                    "instead of refusing the folder.")
    epochs: Annotated[int, EditorHint("epochs", "Schedule")] = Field(
        default=10, ge=1, le=10_000, description="Passes over the training set.")
    batch_size: Annotated[int, EditorHint("batch size M", "Schedule")] = Field(
        default=128, ge=1, le=65_536, description="Images per mini-batch (M in eq. 35).")
    optimizer: Annotated[OptimizerName, EditorHint("optimizer", "Optimizer")] = Field(
        default="adam", description="sgd, adagrad, rmsprop (eq. 38), adam (eq. 39) or lbfgs (quasi-Newton).")
    learning_rate: Annotated[float, EditorHint("learning rate η", "Optimizer")] = Field(
        default=1e-3, gt=0, le=10, description="eta: step size.")
    momentum: Annotated[float, EditorHint("momentum α", "Optimizer", when("optimizer", "sgd"))] = Field(
        default=0.9, ge=0, lt=1, description="SGD momentum (0 for plain SGD, eq. 19).")
    nesterov: Annotated[bool, EditorHint("Nesterov", "Optimizer", when("optimizer", "sgd"))] = Field(
        default=False, description="Nesterov momentum for SGD.")
    rho: Annotated[float, EditorHint("decay ρ", "Optimizer", when("optimizer", "rmsprop"))] = Field(
        default=0.99, ge=0, lt=1, description="RMSprop's decay rho of r (eq. 38); PyTorch calls it alpha.")
    beta1: Annotated[float, EditorHint("ρ¹ (beta1)", "Optimizer", when("optimizer", "adam"))] = Field(
        default=0.9, ge=0, lt=1, description="Adam's rho^1, decay of the first moment s (eq. 39).")
    beta2: Annotated[float, EditorHint("ρ² (beta2)", "Optimizer", when("optimizer", "adam"))] = Field(
        default=0.999, ge=0, lt=1, description="Adam's rho^2, decay of the second moment r (eq. 39).")
    delta: Annotated[float, EditorHint("δ", "Optimizer", when("optimizer", "adagrad", "rmsprop", "adam"))] = Field(
        default=1e-8, gt=0, le=1, description="delta: keeps the adaptive step finite (PyTorch's eps).")
    l2_penalty: Annotated[float, EditorHint("L2 penalty λ", "Regularisation")] = Field(
        default=0.0, ge=0, le=1, description="lambda in lambda * ||theta||^2 on weights (not biases or batch-norm).")
    schedule: Annotated[ScheduleName, EditorHint("schedule", "Schedule")] = Field(
        default="constant", description="Learning-rate schedule over the run.")
    step_epochs: Annotated[int, EditorHint("step every (epochs)", "Schedule", when("schedule", "step"))] = Field(
        default=10, ge=1, description="step schedule: multiply the rate by step_gamma every this many epochs.")
    step_gamma: Annotated[float, EditorHint("step factor", "Schedule", when("schedule", "step"))] = Field(
        default=0.1, gt=0, le=1, description="step schedule: factor applied at each step.")
    early_stopping: Annotated[bool, EditorHint("early stopping", "Regularisation")] = Field(
        default=False,
        description="Stop when validation loss has not improved for `patience` epochs, and restore the best weights.")
    patience: Annotated[int, EditorHint("patience", "Regularisation", when("early_stopping", True))] = Field(
        default=5, ge=1, le=1000, description="Epochs without improvement before early stopping.")
    # Its fields' editors go in this section (AugmentationSettings' hints name no group).
    augmentation: Annotated[AugmentationSettings, EditorHint("augmentation", "Augmentation")] = Field(
        default_factory=AugmentationSettings)
    init: Annotated[InitScheme, EditorHint("scheme", "Initialisation")] = Field(
        default="pytorch_default", description="Weight initialisation (lecture: C / sqrt(d), eq. 27).")
    init_gain: Annotated[float, EditorHint(
        "gain C", "Initialisation", when("init", "lecture_normal", "lecture_uniform"))] = Field(
        default=1.0, gt=0, le=10, description="C in eq. (27).")
    device: Annotated[DeviceChoice, EditorHint("device", "Device", widget="device")] = Field(
        default="auto", description="auto picks CUDA, then Apple MPS, then CPU.")
    precision: Annotated[Precision, EditorHint("precision", "Device")] = Field(
        default="auto",
        description="auto (the faster on this machine: bf16 on recent GPUs and CPUs with bf16 instructions, "
                    "else fp16 on older GPUs, fp32 on other CPUs), fp32, or bf16/fp16 autocast "
                    "(fp16 on CUDA only).")
    channels_last: Annotated[Layout, EditorHint("channels last", "Device")] = Field(
        default="auto",
        description="channels-last memory format: auto (on for GPUs with tensor cores, off on CPUs, "
                    "where it measured slower), on or off.")
    compile: Annotated[bool, EditorHint("torch.compile", "Device")] = Field(
        default=False,
        description="Train through torch.compile: slower first steps (shown as compile time), then faster; "
                    "if compiling fails the run goes on uncompiled and says why.")
    sync_batchnorm: Annotated[bool, EditorHint("sync batch norm", "Device", _has_batchnorm)] = Field(
        default=False, description="Several processes: batch statistics over all processes' batches (SyncBatchNorm).")
    seed: Annotated[int, EditorHint("seed", "Device")] = Field(
        default=0, ge=0, description="Seeds initialisation, shuffling, augmentation and dropout masks.")
    state_every: Annotated[int, EditorHint("state every (steps)", "Reporting")] = Field(
        default=25, ge=1, le=100_000, description="Collect optimizer state and gradient norms every this many steps.")
    report_every: Annotated[int, EditorHint("read back every (steps)", "Reporting")] = Field(
        default=10, ge=1, le=10_000, description="Read losses back from the device every this many steps.")
    init_from: Annotated[str | None, EditorHint("start from run", "Transfer learning")] = Field(
        default=None,
        description="Transfer learning: a run folder or weights file whose matching layers start this run.")
    init_weights: Annotated[Literal["best", "last"], EditorHint(
        "weights of that run", "Transfer learning", _transferring)] = Field(
        default="best", description="Which weights of the source run: best validation loss, or last epoch.")
    freeze: Annotated[list[str], EditorHint(
        "freeze layers", "Transfer learning", _may_freeze, widget="layers")] = Field(
        default_factory=list, description="Layers (by name, e.g. conv1) that get no updates and no L2 penalty.")
    freeze_through: Annotated[str | None, EditorHint(
        "freeze up to layer", "Transfer learning", _may_freeze, widget="layer")] = Field(
        default=None, description="Freeze every layer up to and including this one.")
    transfer_lr_scale: Annotated[float, EditorHint(
        "LR factor (transferred)", "Transfer learning", _transferring)] = Field(
        default=1.0, gt=0, le=1, description="Learning-rate factor for the layers that took transferred weights.")
    unfreeze_at_epoch: Annotated[int | None, EditorHint("unfreeze at epoch", "Transfer learning", _freezing)] = Field(
        default=None, ge=1, description="Epoch (1-based) from which frozen layers train too.")
    tensorboard: Annotated[bool, EditorHint("TensorBoard files", "Reporting")] = Field(
        default=False, description="Also write TensorBoard event files in the run folder's tensorboard/ "
                                   "(needs the tensorboard package: pip install 'convstudio[tensorboard]').")
    mc_samples: Annotated[int, EditorHint("MC samples T", "Reporting")] = Field(
        default=20, ge=1, le=1000, description="T: Monte Carlo dropout samples for the final comparison (eq. 22-24).")

    @field_validator("channels_last", mode="before")
    @classmethod
    def _channels_last_from_bool(cls, value: Any) -> Any:
        """Designs saved before ``auto`` existed hold true or false: read them as on and off."""
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value
