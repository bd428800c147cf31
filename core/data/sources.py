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
    path: str | Path, image_size: int | None, progress: Progress | None
) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Every image under ``path/<class>/``, as RGB, all resized to one size.

    The size is ``image_size`` squared, or else the first image's size. Returns
    (classes, images, labels); class names are the subfolder names, sorted.
    """
    from PIL import Image
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.folder import IMG_EXTENSIONS

    root = Path(path).expanduser()
    name = str(path)
    how = (
        f"An image folder holds one subfolder per class with the images in it "
        f"({', '.join(IMG_EXTENSIONS)}), e.g. {root / 'cats' / 'cat1.png'}."
    )
    if not root.is_dir():
        raise DatasetUnavailable(f"{root} is not a folder. {how}", name, root)
    if not any(entry.is_dir() for entry in root.iterdir()):
        raise DatasetUnavailable(f"{root} has no class subfolders. {how}", name, root)
    folder = ImageFolder(str(root), allow_empty=True)
    if not folder.samples:
        raise DatasetUnavailable(f"the class folders in {root} hold no images. {how}", name, root)
    counts = np.bincount(folder.targets, minlength=len(folder.classes))
    empty = [folder.classes[index] for index in np.flatnonzero(counts == 0)]
    if empty:
        raise DatasetUnavailable(
            f"the class folders {', '.join(empty)} in {root} hold no images: add images or remove these folders. {how}",
            name,
            root,
        )

    size: tuple[int, int] | None = (image_size, image_size) if image_size else None
    arrays = []
    total = len(folder.samples)
    for number, (file, _) in enumerate(folder.samples, start=1):
        try:
            with Image.open(file) as opened:
                image = opened.convert("RGB")
        except (OSError, ValueError) as error:
            raise DatasetUnavailable(f"{file} cannot be read as an image ({error}).", name, root) from None
        if size is None:
            size = image.size
        if image.size != size:
            image = image.resize(size, Image.Resampling.BILINEAR)
        arrays.append(np.asarray(image, dtype=np.uint8))
        if progress is not None and (number % 64 == 0 or number == total):
            progress(number, total)
    images = _from_hwc(np.stack(arrays))
    return list(folder.classes), images, torch.tensor(folder.targets, dtype=torch.int64)
