"""Images and trained models for the lab: a split normalised as training saw it, a run's weights.

Training normalises every image to (x / 255 - mean) / std per channel, with
the training split's statistics; the lab feeds models through the same
:class:`~core.data.DeviceBatches`, without augmentation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from convstudio.core.builder import DesignNet, build_model
from convstudio.core.data import DatasetSplits, DeviceBatches
from convstudio.core.design import Design
from convstudio.core.training.run_folder import RunFolder, RunFolderError, WeightsChoice, load_checkpoint
from convstudio.core.training.settings import TrainingSettings
from convstudio.core.training.setup import load_data

Split = Literal["train", "val", "test"]


def normalised_images(data: DatasetSplits, split: Split = "test", limit: int | None = None,
                      device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(float images, labels) of one split, the first ``limit`` of them, normalised as in training."""
    images = getattr(data, f"{split}_images")[:limit]
    labels = getattr(data, f"{split}_labels")[:limit]
    if len(labels) == 0:
        return images.float().to(device), labels.to(device)
    batches = DeviceBatches(images, labels, 1024, device, data.mean, data.std, shuffle=False, augmentation=None, seed=0)
    prepared = list(batches.epoch(0))
    return torch.cat([x for x, _ in prepared]), torch.cat([y for _, y in prepared])


@dataclass
class TrainedRun:
    """A finished run as the lab needs it: what was trained, how, and the trained network."""

    folder: RunFolder
    design: Design
    settings: TrainingSettings
    model: DesignNet


def load_trained_run(run_dir: str | Path, weights: WeightsChoice = "best") -> TrainedRun:
    """The design, settings and weights of a run folder (best validation loss, or the last epoch).

    Raises RunFolderError (or DesignFileError) with a message naming the file.
    """
    folder = RunFolder(Path(run_dir))
    if not folder.path.is_dir():
        raise RunFolderError(f"{folder.path}: no such run folder")
    design = folder.design()
    settings = folder.settings()
    path = folder.weights_path(weights)
    model = build_model(design)
    try:
        model.load_state_dict(load_checkpoint(path)["model"])
    except (KeyError, RuntimeError) as error:
        raise RunFolderError(f"{path}: weights do not fit the run's design ({error})") from None
    return TrainedRun(folder, design, settings, model.eval())


def run_dataset(settings: TrainingSettings) -> DatasetSplits:
    """The dataset a run trained on: same name, seed, validation share and limit (same test split).

    Raises TrainingSetupError when the dataset is not available.
    """
    return load_data(settings)
