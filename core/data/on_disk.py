"""Whether a downloadable dataset is already on disk, answered without importing torchvision.

The app asks this when it opens (to preselect CIFAR10 when it is there and the
built-in shapes otherwise, and to offer a download button); importing
torchvision only to read its file lists takes seconds. The names below are
torchvision's on-disk layout, which :mod:`core.data.sources` reads;
``tests`` check that both agree.
"""

from __future__ import annotations

from pathlib import Path

from convstudio.core.paths import default_data_dir

# Files each dataset needs, relative to the data folder (torchvision's layout).
REQUIRED_FILES: dict[str, tuple[str, ...]] = {
    "cifar10": tuple(f"cifar-10-batches-py/{name}" for name in
                     ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                      "test_batch", "batches.meta")),
    "mnist": tuple(f"MNIST/raw/{name}" for name in
                   ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")),
    "fashion-mnist": tuple(f"FashionMNIST/raw/{name}" for name in
                           ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                            "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")),
}

# Approximate download sizes, for the button that offers the download.
DOWNLOAD_MEGABYTES: dict[str, int] = {"cifar10": 163, "mnist": 12, "fashion-mnist": 31}

DOWNLOADABLE: tuple[str, ...] = tuple(REQUIRED_FILES)


def dataset_on_disk(name: str, data_dir: str | Path | None = None) -> bool:
    """True when every file of dataset ``name`` (cifar10, mnist, fashion-mnist) is in the data folder.

    The built-in "shapes" needs no files and is always there; any other name is
    taken as an image folder and is there when it is a folder.
    """
    key = name.strip().lower()
    if key == "shapes":
        return True
    if key not in REQUIRED_FILES:
        return Path(name).expanduser().is_dir()
    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    return all((folder / relative).is_file() for relative in REQUIRED_FILES[key])
