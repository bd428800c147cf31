"""What a dataset holds, for the data browser: class counts per split, the mean image, examples per class.

The per-channel mean and standard deviation are the ones training normalises
with (:attr:`DatasetSplits.mean`/``std``, measured on the training split only).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from convstudio.core.data import DatasetSplits
from convstudio.core.inspection.images import SPLITS

_MEAN_CHUNK = 4096  # images summed at a time: CIFAR10's 50,000 as float would take 600 MB


@dataclass(frozen=True, eq=False)
class DatasetOverview:
    """Counts, statistics and the mean image of one dataset."""

    name: str
    classes: tuple[str, ...]
    counts: dict[str, tuple[int, ...]]  # split -> images per class
    mean: tuple[float, ...]  # per channel, [0, 1] units (training split)
    std: tuple[float, ...]
    mean_image: torch.Tensor  # uint8 (C, H, W): the training split's average

    def table_rows(self) -> list[tuple[str, int, int, int]]:
        """(class, train, validation, test) per class."""
        return [(name, *(self.counts[split][index] for split in SPLITS)) for index, name in enumerate(self.classes)]


def class_counts(labels: torch.Tensor, num_classes: int) -> tuple[int, ...]:
    """How many labels name each class."""
    return tuple(int(count) for count in torch.bincount(labels.long(), minlength=num_classes)[:num_classes])


def mean_image(images: torch.Tensor) -> torch.Tensor:
    """The average of uint8 (N, C, H, W) images, as uint8 (C, H, W)."""
    total = torch.zeros(images.shape[1:], dtype=torch.float64)
    for start in range(0, images.shape[0], _MEAN_CHUNK):
        total += images[start:start + _MEAN_CHUNK].double().sum(dim=0)
    return (total / max(images.shape[0], 1)).round().clamp(0, 255).to(torch.uint8)


def overview(data: DatasetSplits) -> DatasetOverview:
    """Class counts of every split, the per-channel statistics and the training split's mean image."""
    counts = {split: class_counts(getattr(data, f"{split}_labels"), data.num_classes) for split in SPLITS}
    return DatasetOverview(data.name, data.classes, counts, tuple(data.mean), tuple(data.std),
                           mean_image(data.train_images))


def examples_per_class(labels: torch.Tensor, num_classes: int, per_class: int) -> list[list[int]]:
    """The first ``per_class`` image indices of each class, in the split's order."""
    chosen: list[list[int]] = [[] for _ in range(num_classes)]
    for index, label in enumerate(labels.tolist()):
        if len(chosen[label]) < per_class:
            chosen[label].append(index)
            if all(len(indices) == per_class for indices in chosen):
                break
    return chosen
