"""Everything a run needs before its first batch: data, model, optimizer, schedule.

Problems a user can fix (a design that does not match the dataset, a missing
dataset, an absent device) raise :class:`TrainingSetupError` with a message
saying what is wrong and how to fix it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from convstudio.core.builder import DesignNet, DesignShapeError, build_model
from convstudio.core.data import DATASET_NAMES, DatasetSplits, DatasetUnavailable, DeviceBatches, load_dataset
from convstudio.core.data.streamed import MappedImages, StreamedBatches
from convstudio.core.design import Design
from convstudio.core.naming import qualified_layer_names
from convstudio.core.shape_records import DesignReport, format_shape
from convstudio.core.shapes import infer_shapes
from convstudio.core.training.devices import choose_device
from convstudio.core.training.classifier_output import classifier_problem
from convstudio.core.training.distributed import SINGLE_PROCESS, ProcessGroup, device_for
from convstudio.core.training.fast_defaults import resolve as resolve_speed_settings
from convstudio.core.training.memory import available_memory, memory_problem
from convstudio.core.training.optimizer_state import ParameterIndex
from convstudio.core.training.optimizers import make_optimizer, make_scheduler
from convstudio.core.training.settings import TrainingSettings
from convstudio.core.training.transfer import (
    TransferError, TransferReport, frozen_layer_set, load_matching_weights, read_source_weights, set_frozen,
)


class DataLoadingStopped(Exception):
    """The run was asked to stop (Stop, Ctrl-C) while its data loaded: the image folder's decoding was cancelled.

    Nothing trained; :class:`~core.training.engine.TrainingRun` ends the run as
    stopped before training began.
    """


class TrainingSetupError(Exception):
    """A run that cannot start, with a message saying why and how to fix it.

    ``missing_dataset`` names a downloadable dataset that is not on disk, so a
    caller can offer the download (a button, a command-line option).
    """

    def __init__(self, message: str, missing_dataset: str | None = None):
        super().__init__(message)
        self.missing_dataset = missing_dataset


@dataclass
class PreparedRun:
    """The objects a training loop works with."""

    device: torch.device
    device_reason: str
    data: DatasetSplits
    model: DesignNet
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    train_batches: DeviceBatches
    val_batches: DeviceBatches
    test_batches: DeviceBatches
    parameter_index: ParameterIndex
    layer_names: list[str]
    frozen: set[str]
    transfer: TransferReport | None
    group: ProcessGroup
    precision: str = "fp32"  # fp32, bf16 or fp16: the setting, with auto decided (core.training.fast_defaults)

    def refresh_parameter_index(self) -> None:
        """Re-read which parameters train (after unfreezing)."""
        self.parameter_index = ParameterIndex.from_model(self.model, self.layer_names)


def check_design_trainable(design: Design) -> DesignReport:
    """Refuse, before any data loads, a design with impossible shapes or one that is not a classifier."""
    report = infer_shapes(design)
    if not report.valid:
        raise TrainingSetupError(f"the design cannot be trained: {report.first_error()}")
    problem = classifier_problem(report)
    if problem:
        raise TrainingSetupError(problem)
    return report


def check_memory(report: DesignReport, settings: TrainingSettings, device: torch.device) -> None:
    """Refuse a design whose estimated training memory exceeds what the device has free."""
    where = f"the GPU ({device})" if device.type == "cuda" else "this machine"
    problem = memory_problem(report, settings.batch_size, settings.optimizer, settings.momentum,
                             available_memory(device), where)
    if problem:
        raise TrainingSetupError(problem)


def check_design_fits_data(design: Design, data: DatasetSplits) -> None:
    """Refuse a design whose input or output does not match the dataset."""
    report = check_design_trainable(design)
    if tuple(design.input.shape) != tuple(data.image_shape):
        raise TrainingSetupError(
            f"the design's input is {format_shape(design.input.shape)} but {data.name} images are "
            f"{format_shape(data.image_shape)}: set the design's input to channels {data.image_shape[0]}, "
            f"height {data.image_shape[1]}, width {data.image_shape[2]}, or choose another dataset"
        )
    problem = classifier_problem(report, data.num_classes, data.name)
    if problem:
        raise TrainingSetupError(problem)


def data_memory_budget(device: torch.device) -> int | None:
    """Bytes of images that may be held whole on ``device``: half of its free memory (None: unknown, no limit).

    An image folder larger than this is read from its cache a batch at a time
    (:class:`~core.data.streamed.StreamedBatches`). ``$CONVSTUDIO_DATA_BUDGET_MB``
    sets it instead (to try streaming on a small folder).
    """
    override = os.environ.get("CONVSTUDIO_DATA_BUDGET_MB")
    if override:
        return int(float(override) * 1024 * 1024)
    free = available_memory(device)
    return None if free is None else free // 2


def load_data(settings: TrainingSettings, download: bool = False, progress=None,
              device: torch.device | None = None, should_stop=None) -> DatasetSplits:
    """The dataset the settings name (fetched first when ``download``), or TrainingSetupError saying how to get it.

    With ``device``, an image folder larger than :func:`data_memory_budget` stays on disk.
    ``progress(done, total)`` counts an image folder's decoded images (a
    download's bytes); ``should_stop()`` cancels a first decoding with
    :class:`DataLoadingStopped`.
    """
    try:
        return load_dataset(settings.dataset, val_fraction=settings.val_fraction, seed=settings.seed,
                            limit=settings.data_limit, download=download, progress=progress,
                            skip_unreadable=settings.skip_unreadable,
                            memory_budget=data_memory_budget(device) if device is not None else None,
                            should_stop=should_stop)
    except DatasetUnavailable as error:
        if should_stop is not None and should_stop():  # the decoding ended because it was cancelled
            raise DataLoadingStopped(str(error)) from None
        downloadable = error.dataset in DATASET_NAMES and error.dataset != "shapes" and error.folder is not None
        raise TrainingSetupError(str(error), error.dataset if downloadable else None) from None


def prepare_run(design: Design, settings: TrainingSettings, data: DatasetSplits | None = None,
                model: DesignNet | None = None, group: ProcessGroup = SINGLE_PROCESS,
                download: bool = False, *, data_progress=None, should_stop=None) -> PreparedRun:
    """Build the model and data pipeline for ``design`` as ``settings`` say.

    ``model`` may be given (for example with transferred weights); it is moved to the device.
    Unless ``data`` is given, the data load reports to ``data_progress`` and
    ``should_stop`` cancels it (see :func:`load_data`).
    With several processes (``group``), batches are global batches of
    ``batch_size * world_size`` that each process slices (see core.training.distributed).
    """
    try:
        device, device_reason = choose_device(settings.device)
    except ValueError as error:
        raise TrainingSetupError(f"{error}; set device to auto or cpu") from None
    device = device_for(group, device)
    if group.is_distributed:
        device_reason += f"; process {group.rank + 1} of {group.world_size}"
    # Before the data loads: a design that cannot train, or cannot fit, is refused in a moment.
    report = check_design_trainable(design)
    if model is None:
        check_memory(report, settings, device)
    if data is None:
        data = load_data(settings, download, data_progress, device=device, should_stop=should_stop)
    check_design_fits_data(design, data)
    if model is None:
        try:
            model = build_model(design, init=settings.init, gain=settings.init_gain, seed=settings.seed)
        except DesignShapeError as error:
            raise TrainingSetupError(str(error)) from None
    names = qualified_layer_names(design.layers)  # blocks and the layers inside them too
    transfer = None
    try:
        if settings.init_from:
            weights = read_source_weights(settings.init_from, settings.init_weights)
            transfer = load_matching_weights(model, names, weights, settings.init_from)
        frozen = frozen_layer_set(names, settings.freeze, settings.freeze_through)
    except TransferError as error:
        raise TrainingSetupError(str(error)) from None
    set_frozen(model, names, frozen)
    precision, channels_last, auto_note = resolve_speed_settings(settings.precision, settings.channels_last, device,
                                                                 len(data.image_shape) - 1, settings.optimizer)
    if auto_note:
        device_reason += f"; {auto_note}"
    memory_format = torch.channels_last if channels_last else None
    model = model.to(device, memory_format=memory_format) if memory_format else model.to(device)
    common = dict(device=device, mean=data.mean, std=data.std, channels_last=memory_format is not None)
    # A dataset too large to hold on the device is read from its cache a batch at a time.
    batches_class = StreamedBatches if isinstance(data.train_images, MappedImages) else DeviceBatches
    train_batches = batches_class(data.train_images, data.train_labels, settings.batch_size * group.world_size,
                                  shuffle=True,
                                  augmentation=settings.augmentation, seed=settings.seed, **common)
    # Evaluation batches can be larger: no gradients are kept.
    eval_size = max(settings.batch_size, 256) * group.world_size
    val_batches = batches_class(data.val_images, data.val_labels, eval_size, shuffle=False,
                                augmentation=None, seed=settings.seed, **common)
    test_batches = batches_class(data.test_images, data.test_labels, eval_size, shuffle=False,
                                 augmentation=None, seed=settings.seed, **common)
    if len(train_batches) == 0:
        raise TrainingSetupError(
            f"the training split has {len(data.train_labels)} images, fewer than one batch of "
            f"{settings.batch_size}: lower the batch size")
    transferred = set()
    if transfer is not None:
        modules_of = ({unit.name: unit.modules for unit in model.units} if getattr(model, "units", None)
                      else dict(zip(names, model.layer_modules)))
        for layer_name in transfer.loaded_layers:
            transferred.update(id(p) for name in modules_of.get(layer_name, ())
                               for p in model.get_submodule(name).parameters())
    try:
        optimizer = make_optimizer(model, settings, transferred)
    except ValueError as error:
        raise TrainingSetupError(str(error)) from None
    scheduler = make_scheduler(optimizer, settings, len(train_batches))
    index = ParameterIndex.from_model(model, names)
    return PreparedRun(device, device_reason, data, model, optimizer, scheduler,
                       train_batches, val_batches, test_batches, index, names, frozen, transfer, group, precision)
