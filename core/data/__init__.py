"""The training engine's data layer: datasets as whole tensors, on-device batches and augmentation.

- :func:`load_dataset` gives a :class:`DatasetSplits` (uint8 images, labels,
  train/validation/test, per-channel mean and std) for the built-in shapes,
  CIFAR10, MNIST, Fashion-MNIST or an image folder.
- :class:`DeviceBatches` keeps a split on the training device and yields
  normalised, augmented batches, reproducibly per epoch.
- :func:`augment_batch` applies :class:`AugmentationSettings` to a whole batch.
"""

from convstudio.core.lazy_exports import lazy_exports

# Every public name and the module that defines it, imported on first use (PEP 562):
# the training settings need AugmentationSettings, and reading them must not load
# torch (the app's window shows before torch loads; ``convstudio check`` never loads it).
_HOMES = {
    "AugmentationSettings": "augmentation_settings", "augment_batch": "augment",
    "DeviceBatches": "batches", "SHAPES_CLASSES": "builtin_shapes", "generate_shapes": "builtin_shapes",
    "DATASET_NAMES": "datasets", "DatasetSplits": "datasets", "DatasetUnavailable": "sources",
    "default_data_dir": "datasets", "load_dataset": "datasets",
}

__all__ = sorted(_HOMES)

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
