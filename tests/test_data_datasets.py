"""load_dataset: the real torchvision readers on tiny files in the real formats, image folders, errors."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.datasets import CIFAR10, MNIST, FashionMNIST

from convstudio.core.data import DATASET_NAMES, DatasetUnavailable, default_data_dir, load_dataset
from convstudio.core.data.datasets import channel_statistics

CIFAR_NAMES = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_tiny_cifar10(root: Path, per_batch: int = 8, test_count: int = 10) -> dict[str, np.ndarray]:
    """cifar-10-batches-py as torchvision reads it: pickled dicts of uint8 rows of 3072 (R, G, B planes)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows, labels = [], []
    for number in range(1, 6):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        batch_labels = [(number * per_batch + i) % 10 for i in range(per_batch)]
        with open(folder / f"data_batch_{number}", "wb") as stream:
            pickle.dump({"batch_label": f"training batch {number} of 5", "data": data, "labels": batch_labels}, stream)
        rows.append(data)
        labels += batch_labels
    test = rng.integers(0, 256, (test_count, 3072), dtype=np.uint8)
    test_labels = [i % 10 for i in range(test_count)]
    with open(folder / "test_batch", "wb") as stream:
        pickle.dump({"batch_label": "testing batch 1 of 1", "data": test, "labels": test_labels}, stream)
    with open(folder / "batches.meta", "wb") as stream:
        pickle.dump({"label_names": CIFAR_NAMES, "num_cases_per_batch": per_batch, "num_vis": 3072}, stream)
    return {
        "train": np.concatenate(rows),
        "train_labels": np.array(labels),
        "test": test,
        "test_labels": np.array(test_labels),
    }


@pytest.fixture
def cifar_md5s(monkeypatch):
    """Point torchvision's CIFAR10 integrity check at the tiny files' MD5s (it checks them on every load)."""

    def use(folder: Path) -> None:
        batches = folder / "cifar-10-batches-py"
        train = [[f"data_batch_{n}", md5(batches / f"data_batch_{n}")] for n in range(1, 6)]
        monkeypatch.setattr(CIFAR10, "train_list", train)
        monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5(batches / "test_batch")]])
        meta = {"filename": "batches.meta", "key": "label_names", "md5": md5(batches / "batches.meta")}
        monkeypatch.setattr(CIFAR10, "meta", meta)

    return use


def rows_to_label(images: torch.Tensor, labels: torch.Tensor) -> dict[bytes, int]:
    return {image.numpy().tobytes(): int(label) for image, label in zip(images, labels, strict=True)}


def test_tiny_cifar10_loads_through_torchvision(tmp_path, cifar_md5s):
    written = write_tiny_cifar10(tmp_path)
    cifar_md5s(tmp_path)
    splits = load_dataset("cifar10", data_dir=tmp_path, val_fraction=0.25, seed=3)

    assert splits.name == "cifar10" and splits.classes == tuple(CIFAR_NAMES)
    assert splits.image_shape == (3, 32, 32) and splits.num_classes == 10
    # 40 training images, 4 per class: one per class goes to validation.
    assert splits.train_images.shape == (30, 3, 32, 32) and splits.val_images.shape == (10, 3, 32, 32)
    assert sorted(splits.val_labels.tolist()) == list(range(10))
    for images in (splits.train_images, splits.val_images, splits.test_images):
        assert images.dtype == torch.uint8 and images.is_contiguous()
    assert splits.train_labels.dtype == torch.int64
    # CIFAR rows are the R, G and B planes in turn: exactly NCHW.
    expected_test = torch.from_numpy(written["test"]).view(-1, 3, 32, 32)
    assert torch.equal(splits.test_images, expected_test)
    assert splits.test_labels.tolist() == written["test_labels"].tolist()
    # Train and validation together are the training set, each image with its own label.
    written_train = torch.from_numpy(written["train"]).view(-1, 3, 32, 32)
    expected = rows_to_label(written_train, torch.from_numpy(written["train_labels"]))
    all_images = torch.cat([splits.train_images, splits.val_images])
    found = rows_to_label(all_images, torch.cat([splits.train_labels, splits.val_labels]))
    assert found == expected
    # Normalisation statistics come from the training split only.
    assert splits.mean == pytest.approx(channel_statistics(splits.train_images)[0])
    train_float = splits.train_images.double() / 255
    assert splits.mean == pytest.approx(train_float.mean((0, 2, 3)).tolist())
    assert splits.std == pytest.approx(train_float.std((0, 2, 3), unbiased=False).tolist())


def test_limit_caps_training_and_test_images(tmp_path, cifar_md5s):
    write_tiny_cifar10(tmp_path)
    cifar_md5s(tmp_path)
    splits = load_dataset("CIFAR10", data_dir=tmp_path, val_fraction=0.1, limit=20, seed=1)
    assert splits.train_images.shape[0] + splits.val_images.shape[0] == 20
    assert splits.test_images.shape[0] == 10
    smaller = load_dataset("cifar10", data_dir=tmp_path, limit=5)
    assert smaller.test_images.shape[0] == 5


def test_damaged_cifar10_file_is_reported(tmp_path, cifar_md5s):
    write_tiny_cifar10(tmp_path)
    cifar_md5s(tmp_path)
    damaged = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    content = bytearray(damaged.read_bytes())
    content[-5] ^= 0xFF
    damaged.write_bytes(bytes(content))
    with pytest.raises(DatasetUnavailable) as caught:
        load_dataset("cifar10", data_dir=tmp_path)
    assert "cifar-10-batches-py" in str(caught.value) and "download again" in str(caught.value)


def write_idx(path: Path, array: np.ndarray) -> None:
    """An MNIST idx file: magic (0, 0, type 8 = uint8, dimensions), big-endian sizes, then the bytes."""
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_tiny_mnist(raw: Path, train_count: int = 30, test_count: int = 7) -> dict[str, np.ndarray]:
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (train_count, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(train_count, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (test_count, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(test_count, dtype=np.uint8) * 3) % 10,
    }
    for name, array in arrays.items():
        write_idx(raw / name, array)
    return arrays


@pytest.mark.parametrize(("name", "dataset_class"), [("mnist", MNIST), ("fashion-mnist", FashionMNIST)])
def test_tiny_mnist_formats_load_through_torchvision(tmp_path, name, dataset_class):
    written = write_tiny_mnist(tmp_path / dataset_class.__name__ / "raw")
    splits = load_dataset(name, data_dir=tmp_path, val_fraction=0.0)
    assert splits.classes == tuple(dataset_class.classes)
    assert splits.image_shape == (1, 28, 28)
    assert torch.equal(splits.test_images[:, 0], torch.from_numpy(written["t10k-images-idx3-ubyte"]))
    assert splits.test_labels.tolist() == written["t10k-labels-idx1-ubyte"].tolist()
    assert splits.val_images.shape == (0, 1, 28, 28)
    written_labels = torch.from_numpy(written["train-labels-idx1-ubyte"]).long()
    expected = rows_to_label(torch.from_numpy(written["train-images-idx3-ubyte"]), written_labels)
    assert rows_to_label(splits.train_images[:, 0], splits.train_labels) == expected
    assert len(splits.mean) == 1 and len(splits.std) == 1


def test_image_size_resizes_every_split(tmp_path):
    write_tiny_mnist(tmp_path / "MNIST" / "raw")
    splits = load_dataset("mnist", data_dir=tmp_path, image_size=32)
    assert splits.image_shape == (1, 32, 32)
    assert splits.val_images.shape[1:] == (1, 32, 32) and splits.test_images.shape[1:] == (1, 32, 32)
    shapes = load_dataset("shapes", limit=50, image_size=24)
    assert shapes.image_shape == (3, 24, 24)


@pytest.mark.parametrize(
    ("name", "expected_parts"),
    [
        ("cifar10", ["cifar-10-batches-py", "https://www.cs.toronto.edu/~kriz/cifar.html", "download"]),
        ("mnist", ["MNIST/raw", "train-images-idx3-ubyte", "download"]),
        ("fashion-mnist", ["FashionMNIST/raw", "t10k-labels-idx1-ubyte", "download"]),
    ],
)
def test_missing_dataset_names_the_folder_and_the_fix(tmp_path, name, expected_parts):
    with pytest.raises(DatasetUnavailable) as caught:
        load_dataset(name, data_dir=tmp_path / "data")
    message = str(caught.value)
    assert str(tmp_path / "data") in message
    for part in expected_parts:
        assert part in message
    assert caught.value.dataset == name and caught.value.folder == tmp_path / "data"


def test_default_folder_is_searched_when_none_is_given(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_DATA", str(tmp_path / "mine"))
    with pytest.raises(DatasetUnavailable, match="mine"):
        load_dataset("cifar10")


def test_download_offline_raises_dataset_unavailable(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DatasetUnavailable) as caught:
        load_dataset("mnist", data_dir=tmp_path, download=True)
    message = str(caught.value)
    assert "could not be downloaded" in message and str(tmp_path) in message and "no route to host" in message
    assert not list((tmp_path / "MNIST" / "raw").glob("*.part"))


class FakeResponse(io.BytesIO):
    """What urlopen returns, serving bytes from memory."""

    def __init__(self, content: bytes) -> None:
        super().__init__(content)
        self.headers = {"Content-Length": str(len(content))}


def serve(monkeypatch, files: dict[str, bytes]) -> list[str]:
    """Answer urlopen from ``files`` (keyed by the URL's last part); returns the URLs requested."""
    requested = []

    def fake_urlopen(request, timeout=None):
        url = request.full_url if isinstance(request, urllib.request.Request) else request
        requested.append(url)
        return FakeResponse(files[url.rsplit("/", 1)[-1]])

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return requested


def test_cifar10_download_reports_progress_and_unpacks_with_torchvision(tmp_path, monkeypatch, cifar_md5s):
    source = tmp_path / "source"
    written = write_tiny_cifar10(source)
    cifar_md5s(source)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        tar.add(source / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    monkeypatch.setattr(CIFAR10, "tgz_md5", hashlib.md5(archive.getvalue()).hexdigest())
    requested = serve(monkeypatch, {CIFAR10.filename: archive.getvalue()})
    calls = []

    data = tmp_path / "data"
    splits = load_dataset(
        "cifar10", data_dir=data, download=True, progress=lambda done, total: calls.append((done, total))
    )
    assert requested == [CIFAR10.url]
    size = len(archive.getvalue())
    assert calls[0] == (0, size) and calls[-1] == (size, size)
    assert torch.equal(splits.test_images, torch.from_numpy(written["test"]).view(-1, 3, 32, 32))
    assert not (data / CIFAR10.filename).exists()  # unpacked, then removed
    # Present now: no second download.
    requested.clear()
    load_dataset("cifar10", data_dir=data, download=True)
    assert requested == []


def test_mnist_download_fetches_every_archive_then_torchvision_unpacks(tmp_path, monkeypatch):
    written = write_tiny_mnist(tmp_path / "source")
    files = {f"{name}.gz": gzip.compress((tmp_path / "source" / name).read_bytes()) for name in written}
    resources = [(archive, hashlib.md5(content).hexdigest()) for archive, content in files.items()]
    monkeypatch.setattr(MNIST, "resources", resources)
    requested = serve(monkeypatch, files)
    splits = load_dataset("mnist", data_dir=tmp_path / "data", download=True)
    assert len(requested) == 4 and all(url.startswith(MNIST.mirrors[0]) for url in requested)
    assert torch.equal(splits.test_images[:, 0], torch.from_numpy(written["t10k-images-idx3-ubyte"]))


def test_download_with_wrong_checksum_is_refused(tmp_path, monkeypatch):
    serve(monkeypatch, {CIFAR10.filename: b"not the archive"})
    with pytest.raises(DatasetUnavailable, match="MD5"):
        load_dataset("cifar10", data_dir=tmp_path, download=True)
    assert list(tmp_path.iterdir()) == []


def write_image_folder(root: Path) -> dict[str, tuple[int, int, int]]:
    colours = {"cats": (200, 30, 30), "dogs": (20, 40, 220)}
    for name, colour in colours.items():
        (root / name).mkdir(parents=True)
        for number in range(6):
            Image.new("RGB", (12, 10), colour).save(root / name / f"{number}.png")
    # One image of another size and mode is resized and converted.
    Image.new("L", (20, 30), 128).save(root / "dogs" / "odd.png")
    return colours


def test_image_folder_loads_every_image_with_its_class(tmp_path):
    colours = write_image_folder(tmp_path / "pets")
    calls = []
    splits = load_dataset(
        str(tmp_path / "pets"), val_fraction=0.25, progress=lambda done, total: calls.append((done, total))
    )
    assert splits.classes == ("cats", "dogs")
    assert splits.image_shape == (3, 10, 12)  # the first image's size: 12 wide, 10 high
    # The test split is carved first, like the validation split: round(6 * 0.25) + round(7 * 0.25) images.
    assert splits.test_images.shape == (4, 3, 10, 12) and sorted(splits.test_labels.tolist()) == [0, 0, 1, 1]
    assert splits.train_images.shape[0] + splits.val_images.shape[0] + splits.test_images.shape[0] == 13
    assert splits.val_images.shape[0] == 2  # round(4 * 0.25) + round(5 * 0.25) of the 9 left
    assert calls[-1] == (13, 13)
    images = torch.cat([splits.train_images, splits.val_images, splits.test_images])
    labels = torch.cat([splits.train_labels, splits.val_labels, splits.test_labels])
    for image, label in zip(images, labels, strict=True):
        pixel = tuple(image[:, 5, 5].tolist())
        assert pixel in (colours[splits.classes[label]], (128, 128, 128))
        assert pixel != (128, 128, 128) or splits.classes[label] == "dogs"
    resized = load_dataset(str(tmp_path / "pets"), image_size=8)
    assert resized.image_shape == (3, 8, 8)


def test_image_folder_problems_are_explained(tmp_path):
    with pytest.raises(DatasetUnavailable, match="neither a built-in dataset"):
        load_dataset(str(tmp_path / "nowhere"))
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(DatasetUnavailable, match="no class subfolders"):
        load_dataset(str(tmp_path / "flat"))
    (tmp_path / "empty" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "b").mkdir()
    (tmp_path / "empty" / "b" / "notes.txt").write_text("no images here")
    with pytest.raises(DatasetUnavailable, match="hold no images"):
        load_dataset(str(tmp_path / "empty"))
    Image.new("RGB", (4, 4)).save(tmp_path / "empty" / "a" / "x.png")
    with pytest.raises(DatasetUnavailable, match="class folders b in"):
        load_dataset(str(tmp_path / "empty"))
    (tmp_path / "empty" / "b" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetUnavailable, match="broken.png cannot be read"):
        load_dataset(str(tmp_path / "empty"))
    file = tmp_path / "file.txt"
    file.write_text("x")
    with pytest.raises(DatasetUnavailable, match="is not a folder"):
        load_dataset(str(file))


def test_shapes_split_is_stratified_and_seeded():
    first = load_dataset("shapes", limit=1000, val_fraction=0.1, seed=4)
    assert first.name == "shapes" and first.num_classes == 10 and first.image_shape == (3, 32, 32)
    assert first.train_images.shape[0] == 900 and first.val_images.shape[0] == 100
    assert torch.bincount(first.val_labels, minlength=10).tolist() == [10] * 10
    assert first.test_images.shape[0] == 1000
    again = load_dataset("shapes", limit=1000, val_fraction=0.1, seed=4)
    assert torch.equal(first.val_images, again.val_images) and torch.equal(first.train_labels, again.train_labels)
    other = load_dataset("shapes", limit=1000, val_fraction=0.1, seed=5)
    assert not torch.equal(first.val_images, other.val_images)
    assert first.mean == pytest.approx(channel_statistics(first.train_images)[0])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="val_fraction"):
        load_dataset("shapes", val_fraction=1.0)
    with pytest.raises(ValueError, match="limit"):
        load_dataset("shapes", limit=0)
    assert DATASET_NAMES == ("shapes", "cifar10", "mnist", "fashion-mnist")


def test_default_data_dir_per_platform(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVSTUDIO_DATA", str(tmp_path / "override"))
    assert default_data_dir() == tmp_path / "override"
    monkeypatch.delenv("CONVSTUDIO_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "convstudio" / "data"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_data_dir() == tmp_path / "home" / ".local" / "share" / "convstudio" / "data"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert default_data_dir() == tmp_path / "home" / "Library" / "Application Support" / "ConvStudio" / "data"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert default_data_dir() == tmp_path / "local" / "ConvStudio" / "data"


def test_data_layer_imports_no_qt():
    code = (
        "import sys, convstudio.core.data; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph') "
        "or m == 'convstudio.gui' or m.startswith('convstudio.gui.')]; "
        "sys.exit(bool(bad) and print(bad) or 0)"
    )
    root = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0
