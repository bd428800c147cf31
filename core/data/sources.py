"""Reading images from where they live: torchvision's dataset folders and image folders.

Each loader returns whole uint8 NCHW tensors and int64 labels on the CPU, built
without per-image Python work where the format allows it (CIFAR10 and MNIST are
single arrays on disk; an image folder has to be decoded file by file, once).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from convstudio.core.data.download import DownloadFailed, fetch
from convstudio.core.data.streamed import MappedImages

Progress = Callable[[int, int], None]
Loaded = tuple[list[str], torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]

_CIFAR_PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"
_DOWNLOAD_MB = {"mnist": 12, "fashion-mnist": 31}
_READ_ERRORS = (RuntimeError, OSError, ValueError, TypeError, KeyError, EOFError, pickle.UnpicklingError)


class DatasetUnavailable(Exception):
    """A dataset that cannot be loaded, with a message meant for a person.

    The message names the dataset, the folder searched and how to fix it.
    ``dataset`` and ``folder`` (None where no folder is involved) are there for
    callers that want to offer their own remedy, such as a download button.
    """

    def __init__(self, message: str, dataset: str = "", folder: Path | None = None) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.folder = folder


def load_torchvision(key: str, folder: Path, download: bool, progress: Progress | None) -> Loaded:
    """CIFAR10 ("cifar10"), MNIST ("mnist") or Fashion-MNIST ("fashion-mnist") from ``folder``.

    Returns (classes, train_images, train_labels, test_images, test_labels).
    """
    if key == "cifar10":
        return _load_cifar10(folder, download, progress)
    from torchvision.datasets import MNIST, FashionMNIST

    return _load_mnist_like(MNIST if key == "mnist" else FashionMNIST, key, folder, download, progress)


def _load_cifar10(folder: Path, download: bool, progress: Progress | None) -> Loaded:
    from torchvision.datasets import CIFAR10

    batches = folder / CIFAR10.base_folder
    names = [name for name, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]
    missing = [name for name in names if not (batches / name).is_file()]
    put_there = (
        f"put the folder {CIFAR10.base_folder}/ (unpacked from {CIFAR10.filename}, "
        f"the Python version at {_CIFAR_PAGE}) in {folder}"
    )
    archive = folder / CIFAR10.filename
    if missing:
        if not download:
            raise DatasetUnavailable(
                f"CIFAR10 is not in {folder} (searched {batches}: {_what_is_missing(batches, missing)}). "
                f"Allow the download (about 163 MB, needs internet) or {put_there}.",
                "cifar10",
                folder,
            )
        try:
            fetch([CIFAR10.url], archive, CIFAR10.tgz_md5, progress)
        except DownloadFailed as error:
            raise DatasetUnavailable(
                f"CIFAR10 could not be downloaded into {folder} ({error}). "
                f"Connect to the internet and try again, or {put_there}.",
                "cifar10",
                folder,
            ) from None
    try:
        # With the archive present, torchvision's download only checks it and unpacks it.
        train = CIFAR10(str(folder), train=True, download=bool(missing))
        test = CIFAR10(str(folder), train=False)
    except _READ_ERRORS as error:
        raise DatasetUnavailable(
            f"CIFAR10 in {batches} cannot be read ({error}). The files may be damaged or from "
            f"another version: delete {batches} and download again, or {put_there}.",
            "cifar10",
            folder,
        ) from None
    if missing:
        archive.unlink(missing_ok=True)  # unpacked; the archive only doubles the disk space
    return (
        list(train.classes),
        _from_hwc(train.data),
        torch.tensor(train.targets, dtype=torch.int64),
        _from_hwc(test.data),
        torch.tensor(test.targets, dtype=torch.int64),
    )


def _load_mnist_like(dataset_class: type, key: str, folder: Path, download: bool, progress: Progress | None) -> Loaded:
    title = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}[key]
    raw = folder / dataset_class.__name__ / "raw"
    names = [Path(archive).stem for archive, _ in dataset_class.resources]  # the .gz files, unpacked
    missing = [name for name in names if not (raw / name).is_file()]
    put_there = f"put {', '.join(names)} (unpacked from the .gz files at {dataset_class.mirrors[0]}) in {raw}"
    if missing:
        if not download:
            raise DatasetUnavailable(
                f"{title} is not in {folder} (searched {raw}: {_what_is_missing(raw, missing)}). "
                f"Allow the download (about {_DOWNLOAD_MB[key]} MB, needs internet) or {put_there}.",
                key,
                folder,
            )
        try:
            for archive, md5 in dataset_class.resources:
                urls = [mirror + archive for mirror in dataset_class.mirrors]
                fetch(urls, raw / archive, md5, progress)
        except DownloadFailed as error:
            raise DatasetUnavailable(
                f"{title} could not be downloaded into {raw} ({error}). "
                f"Connect to the internet and try again, or {put_there}.",
                key,
                folder,
            ) from None
    try:
        # With every .gz present, torchvision's download only checks and unpacks them.
        train = dataset_class(str(folder), train=True, download=bool(missing))
        test = dataset_class(str(folder), train=False)
    except _READ_ERRORS as error:
        raise DatasetUnavailable(
            f"{title} in {raw} cannot be read ({error}). The files may be damaged: delete them "
            f"and download again, or {put_there}.",
            key,
            folder,
        ) from None
    return (
        list(dataset_class.classes),
        train.data.unsqueeze(1).contiguous(),
        train.targets.to(torch.int64),
        test.data.unsqueeze(1).contiguous(),
        test.targets.to(torch.int64),
    )


def _what_is_missing(folder: Path, missing: list[str]) -> str:
    if not folder.is_dir():
        return "no such folder"
    return f"{', '.join(missing)} missing"


def _from_hwc(array: np.ndarray) -> torch.Tensor:
    """A numpy (N, H, W, C) uint8 array as a contiguous torch (N, C, H, W) tensor, in one copy."""
    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).contiguous()


def load_image_folder(
    path: str | Path, image_size: int | None, progress: Progress | None, *, skip_unreadable: bool = False,
    data_dir: str | Path | None = None, memory_budget: int | None = None, should_stop=None,
) -> tuple[list[str], torch.Tensor | MappedImages, torch.Tensor]:
    """Every image under ``path/<class>/``, as RGB, all resized to one size, through the decoded-folder cache.

    The size is ``image_size`` squared, or else the first image's size. The
    first load decodes the folder on all cores into a cache under ``data_dir``
    (see :mod:`core.data.image_cache`); later loads open it at once. Returns
    (classes, images, labels); class names are the subfolder names, sorted.
    Images come as one uint8 tensor, or, when they take more than
    ``memory_budget`` bytes, as :class:`MappedImages` read from the cache on demand.
    Unreadable images raise DatasetUnavailable naming them unless ``skip_unreadable``.
    """
    from convstudio.core.data.image_cache import CacheCancelled, load_cached_folder

    try:
        cache = load_cached_folder(path, image_size, skip_unreadable=skip_unreadable, data_dir=data_dir,
                                   progress=progress, should_stop=should_stop)
    except CacheCancelled as error:
        raise DatasetUnavailable(str(error), str(path), Path(path)) from None
    labels = torch.from_numpy(cache.labels)
    if memory_budget is not None and cache.nbytes > memory_budget:
        return list(cache.classes), MappedImages(cache, np.arange(len(cache))), labels
    return list(cache.classes), torch.from_numpy(cache.load_all()), labels
