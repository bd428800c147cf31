"""The training engine's data layer: datasets as whole tensors, on-device batches and augmentation.

- :func:`load_dataset` gives a :class:`DatasetSplits` (uint8 images, labels,
  train/validation/test, per-channel mean and std) for the built-in shapes,
  CIFAR10, MNIST, Fashion-MNIST or an image folder.
- :class:`DeviceBatches` keeps a split on the training device and yields
  normalised, augmented batches, reproducibly per epoch.
- :func:`augment_batch` applies :class:`AugmentationSettings` to a whole batch.
"""

from convstudio.core.data.augment import AugmentationSettings, augment_batch
from convstudio.core.data.batches import DeviceBatches
from convstudio.core.data.builtin_shapes import SHAPES_CLASSES, generate_shapes
from convstudio.core.data.datasets import (
    DATASET_NAMES,
    DatasetSplits,
    DatasetUnavailable,
    default_data_dir,
    load_dataset,
)

__all__ = [
    "DATASET_NAMES",
    "SHAPES_CLASSES",
    "AugmentationSettings",
    "DatasetSplits",
    "DatasetUnavailable",
    "DeviceBatches",
    "augment_batch",
    "default_data_dir",
    "generate_shapes",
    "load_dataset",
]
