"""Datasets as whole tensors: the built-in shapes, CIFAR10, MNIST, Fashion-MNIST, image folders.

:func:`load_dataset` reads a dataset once into uint8 NCHW tensors, carves a
validation split from the training images with a seeded, stratified
permutation, and measures the per-channel mean and standard deviation on what
remains for training. The training engine then keeps these tensors on the
device (see :mod:`core.data.batches`); no per-image Python work happens during an
epoch.

CIFAR10, MNIST and Fashion-MNIST are read through ``torchvision.datasets`` from
their usual on-disk formats in a data folder (:func:`default_data_dir` unless the
caller names one). When they are missing and may not be downloaded, or the
download fails, :class:`DatasetUnavailable` says which folder was searched and
how to put the files there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from convstudio.core.data.builtin_shapes import SHAPES_CLASSES, generate_shapes
from convstudio.core.data.sources import DatasetUnavailable, load_image_folder, load_torchvision
from convstudio.core.data.streamed import MappedImages
from convstudio.core.paths import default_data_dir  # its home is core.paths, with the runs root

DATASET_NAMES: tuple[str, ...] = ("shapes", "cifar10", "mnist", "fashion-mnist")

# The built-in dataset: fixed seeds, so every run and every machine sees the same images.
SHAPES_TRAIN_COUNT = 20_000  # validation images are carved from these
SHAPES_TEST_COUNT = 4_000
_SHAPES_TRAIN_SEED = 20_240_601
_SHAPES_TEST_SEED = 20_240_602

_STATISTICS_CHUNK = 4096  # images converted to float at a time for mean and std

__all__ = [
    "DATASET_NAMES",
    "DatasetSplits",
    "DatasetUnavailable",
    "default_data_dir",
    "load_dataset",
]


@dataclass(frozen=True, eq=False)  # tensors have no single truth value: compare by identity
class DatasetSplits:
    """A dataset in memory: uint8 NCHW images and int64 labels for train, validation and test.

    All tensors are on the CPU. ``mean`` and ``std`` are per channel, in [0, 1]
    pixel units, measured on the training split only (validation and test images
    must not leak into the normalisation). An image folder's test split is carved
    from its images as the validation split is (stratified, the same share). An
    image folder larger than the memory budget keeps its images on disk: they are
    then :class:`~core.data.streamed.MappedImages`, which read the images an index
    asks for.
    """

    name: str
    classes: tuple[str, ...]
    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of every image."""
        channels, height, width = self.train_images.shape[1:]
        return (channels, height, width)

    @property
    def num_classes(self) -> int:
        """How many classes the labels index into."""
        return len(self.classes)


def load_dataset(
    name_or_path: str,
    data_dir: Path | None = None,
    download: bool = False,
    val_fraction: float = 0.1,
    seed: int = 0,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    image_size: int | None = None,
    *,
    skip_unreadable: bool = False,
    memory_budget: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> DatasetSplits:
    """Load a dataset by name (one of :data:`DATASET_NAMES`, any case) or image-folder path.

    - ``data_dir``: where CIFAR10, MNIST and Fashion-MNIST are looked for and
      downloaded to; :func:`default_data_dir` when None. Not used for "shapes"
      (generated in about a second from fixed seeds, never cached) or for a path.
    - ``download``: fetch a missing dataset (torchvision's URLs and MD5 checks).
    - ``val_fraction``: share of the training images set aside for validation, per
      class (stratified), chosen by a permutation seeded with ``seed``.
    - ``limit``: at most this many training images (before the validation split)
      and at most this many test images, the first after a seeded shuffle; for
      quick runs and tests. For "shapes" only ``limit`` training images are drawn.
    - ``progress(done, total)``: bytes of the current file while downloading,
      images while reading an image folder; ``total`` is 0 when unknown.
    - ``image_size``: resize every image to ``image_size`` x ``image_size``
      (bilinear, antialiased). An image folder without it takes the first image's
      size.
    - Image folders only: ``skip_unreadable`` leaves out images that cannot be
      decoded (else they are refused by name); images taking more than
      ``memory_budget`` bytes stay in the decoded-folder cache and are read a batch
      at a time (:class:`~core.data.streamed.MappedImages`); ``should_stop()``
      cancels the first decoding. The cache lives in ``data_dir`` too.

    Raises DatasetUnavailable (files missing, download failed, unusable folder)
    and ValueError for arguments out of range.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be at least 0 and below 1, not {val_fraction}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    if image_size is not None and image_size < 1:
        raise ValueError(f"image_size must be at least 1, not {image_size}")
    key = name_or_path.strip().lower()
    if key == "shapes":
        size = image_size or 32
        train_images, train_labels = generate_shapes(limit or SHAPES_TRAIN_COUNT, _SHAPES_TRAIN_SEED, size)
        test_count = SHAPES_TEST_COUNT if limit is None else min(limit, SHAPES_TEST_COUNT)
        test_images, test_labels = generate_shapes(test_count, _SHAPES_TEST_SEED, size)
        name, classes = "shapes", SHAPES_CLASSES
    elif key in DATASET_NAMES:
        folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
        loaded = load_torchvision(key, folder, download, progress)
        name, classes, train_images, train_labels, test_images, test_labels = key, *loaded
    else:
        path = Path(name_or_path).expanduser()
        if not path.exists():
            raise DatasetUnavailable(
                f"{name_or_path!r} is neither a built-in dataset ({', '.join(DATASET_NAMES)}) nor an "
                f"existing folder (searched {path.absolute()}). Give one of those names or the path of "
                "an image folder with one subfolder per class.",
                name_or_path,
                path,
            )
        _refuse_one_class(path)
        classes, train_images, train_labels = load_image_folder(
            path, image_size, progress, skip_unreadable=skip_unreadable, data_dir=data_dir,
            memory_budget=memory_budget, should_stop=should_stop)
        name = name_or_path
        # The folder has no test set of its own: hold out a share of each class, as for validation.
        train_index, test_index = stratified_split(
            train_labels, len(classes), val_fraction, torch.Generator().manual_seed(seed + 1))
        test_images, test_labels = _take(train_images, test_index), train_labels[test_index]
        train_images, train_labels = _take(train_images, train_index), train_labels[train_index]

    generator = torch.Generator().manual_seed(seed)
    if limit is not None:
        train_images, train_labels = _first_after_shuffle(train_images, train_labels, limit, generator)
        test_images, test_labels = _first_after_shuffle(test_images, test_labels, limit, generator)
    if image_size is not None and not isinstance(train_images, MappedImages):  # a folder's cache is sized
        train_images = _resize(train_images, image_size)
        test_images = _resize(test_images, image_size)
    train_index, val_index = stratified_split(train_labels, len(classes), val_fraction, generator)
    val_images, val_labels = _take(train_images, val_index), train_labels[val_index]
    train_images, train_labels = _take(train_images, train_index), train_labels[train_index]
    if train_images.shape[0] == 0:
        raise DatasetUnavailable(
            f"{name}: no images are left for training; use a smaller val_fraction or more images",
            name,
        )
    mean, std = channel_statistics(train_images)
    return DatasetSplits(
        name=name,
        classes=tuple(classes),
        train_images=train_images,
        train_labels=train_labels,
        val_images=val_images,
        val_labels=val_labels,
        test_images=test_images,
        test_labels=test_labels,
        mean=mean,
        std=std,
    )


def _refuse_one_class(path: Path) -> None:
    """A folder with a single class subfolder cannot train a classifier: say so before decoding anything."""
    if not path.is_dir():
        return  # the loader explains what an image folder is
    classes = [entry.name for entry in path.iterdir() if entry.is_dir() and not entry.name.startswith(".")]
    if len(classes) == 1:
        raise DatasetUnavailable(
            f"a classifier needs at least two classes, but {path} has one class folder ({classes[0]}): "
            "add a subfolder of images for each other class",
            str(path),
            path,
        )


def stratified_split(
    labels: torch.Tensor, num_classes: int, val_fraction: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, validation), each in a random order, with ``val_fraction`` of every class.

    A class gets ``round(count * val_fraction)`` validation images but always
    keeps at least one for training.
    """
    count = labels.shape[0]
    order = torch.randperm(count, generator=generator)
    # A stable sort by label keeps the random order within each class.
    sorted_labels, by_class = torch.sort(labels[order], stable=True)
    grouped = order[by_class]
    per_class = torch.bincount(labels, minlength=num_classes)
    first_of_class = torch.cumsum(per_class, 0) - per_class
    rank_in_class = torch.arange(count) - first_of_class[sorted_labels]
    val_per_class = torch.minimum(torch.round(per_class * val_fraction).long(), (per_class - 1).clamp_min(0))
    is_val = rank_in_class < val_per_class[sorted_labels]
    train, val = grouped[~is_val], grouped[is_val]
    train = train[torch.randperm(train.shape[0], generator=generator)]
    return train, val[torch.randperm(val.shape[0], generator=generator)]


def channel_statistics(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images, in [0, 1] pixel units."""
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    total_squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, images.shape[0], _STATISTICS_CHUNK):
        chunk = images[start : start + _STATISTICS_CHUNK].to(torch.float64)
        total += chunk.sum((0, 2, 3))
        total_squares += chunk.square().sum((0, 2, 3))
    pixels = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / pixels
    variance = (total_squares / pixels - mean.square()).clamp_min(0)
    # A constant channel would divide by zero when normalising: use 1 there.
    std = torch.where(variance > 0, variance.sqrt(), torch.full_like(variance, 255.0))
    return tuple((mean / 255).tolist()), tuple((std / 255).tolist())


def _first_after_shuffle(
    images: torch.Tensor, labels: torch.Tensor, limit: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    keep = torch.randperm(images.shape[0], generator=generator)[:limit]
    return _take(images, keep), labels[keep]


def _take(images: torch.Tensor | MappedImages, index: torch.Tensor) -> torch.Tensor | MappedImages:
    """``images[index]``; for images still on disk, the rows to read later (nothing is read now)."""
    return images.subset(index) if isinstance(images, MappedImages) else images[index]


def _resize(images: torch.Tensor, size: int, chunk: int = 2048) -> torch.Tensor:
    """uint8 images resized to size x size, bilinear and antialiased, chunk by chunk."""
    if images.shape[-2:] == (size, size):
        return images
    resized = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        block = images[start : start + chunk].float()
        block = F.interpolate(block, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        resized[start : start + chunk] = block.round_().clamp_(0, 255).to(torch.uint8)
    return resized
