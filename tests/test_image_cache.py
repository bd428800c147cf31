"""The decoded image-folder cache: first load, reuse, invalidation, memory-mapped reads, sharing, bad images."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from convstudio.core.data import DatasetUnavailable, DeviceBatches, load_dataset
from convstudio.core.data.augment import AugmentationSettings
from convstudio.core.data import image_cache
from convstudio.core.data.image_cache import CacheCancelled, cache_root, load_cached_folder
from convstudio.core.data.streamed import MappedImages, StreamedBatches

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_folder(root: Path, per_class: int = 12, classes=("cats", "dogs", "owls"), size=10, seed=0) -> Path:
    rng = np.random.default_rng(seed)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{index:03d}.png")
    return root


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(image_cache.CACHE_ENV, str(folder))
    return folder


def cache_entries(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir()) if folder.is_dir() else []


def test_first_load_decodes_every_image_in_imagefolder_order(tmp_path, cache_dir):
    root = make_folder(tmp_path / "images")
    reports = []
    cached = load_cached_folder(root, progress=lambda done, total: reports.append((done, total)))
    assert cached.classes == ("cats", "dogs", "owls")
    assert cached.shape == (36, 3, 10, 10)
    assert list(cached.labels) == [0] * 12 + [1] * 12 + [2] * 12
    expected = np.asarray(Image.open(root / "dogs" / "005.png")).transpose(2, 0, 1)
    assert np.array_equal(cached.load_all()[12 + 5], expected)
    assert reports[-1] == (36, 36)
    # One finished cache, no temporary folder left behind.
    assert len(cache_entries(cache_dir)) == 1 and not cache_entries(cache_dir)[0].startswith(".")
    assert cache_root() == cache_dir


def test_a_second_load_reuses_the_cache_without_decoding(tmp_path, cache_dir, monkeypatch):
    root = make_folder(tmp_path / "images")
    first = load_cached_folder(root).load_all()

    def no_decoding(*_):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(image_cache, "decode_image", no_decoding)
    assert np.array_equal(load_cached_folder(root).load_all(), first)
    assert len(cache_entries(cache_dir)) == 1


def test_an_edited_folder_or_another_size_is_decoded_again(tmp_path, cache_dir):
    root = make_folder(tmp_path / "images")
    before = load_cached_folder(root)
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(root / "cats" / "000.png")
    os.utime(root / "cats" / "000.png", ns=(1, 1))  # even a clock that does not move changes the key
    after = load_cached_folder(root)
    assert not np.array_equal(before.load_all()[0], after.load_all()[0])
    assert after.load_all()[0].max() == 0
    (root / "owls" / "extra.png").write_bytes((root / "owls" / "001.png").read_bytes())
    assert len(load_cached_folder(root)) == 37
    assert load_cached_folder(root, image_size=6).shape == (37, 3, 6, 6)
    assert len(cache_entries(cache_dir)) == 4


def test_corrupt_images_are_named_and_skipped_only_when_asked(tmp_path, cache_dir):
    root = make_folder(tmp_path / "images")
    (root / "dogs" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DatasetUnavailable) as refused:
        load_cached_folder(root)
    message = str(refused.value)
    assert str(root / "dogs" / "broken.png") in message and "--skip-unreadable" in message
    skipped = load_cached_folder(root, skip_unreadable=True)
    assert len(skipped) == 36 and skipped.unreadable[0][0] == "dogs/broken.png"
    assert list(skipped.labels).count(1) == 12
    # The cache remembers the bad file: asking again without skipping refuses again, without decoding.
    with pytest.raises(DatasetUnavailable, match="broken.png"):
        load_cached_folder(root)


def test_cancelling_leaves_no_cache(tmp_path, cache_dir):
    root = make_folder(tmp_path / "images", per_class=40)
    with pytest.raises(CacheCancelled):
        load_cached_folder(root, should_stop=lambda: True, workers=1)
    assert cache_entries(cache_dir) == []


def test_a_process_pool_decodes_the_same_pixels(tmp_path, cache_dir):
    root = make_folder(tmp_path / "images", per_class=100, size=6)
    pooled = load_cached_folder(root, workers=2).load_all()
    single = load_cached_folder(root, data_dir=tmp_path / "other", workers=1).load_all()
    assert pooled.shape == (300, 3, 6, 6) and np.array_equal(pooled, single)


_CHILD = """
import sys
import numpy as np
from convstudio.core.data.image_cache import load_cached_folder
cached = load_cached_folder(sys.argv[1], workers=1)
print(len(cached), int(cached.load_all().astype(np.int64).sum()))
"""


def test_two_processes_share_one_cache_as_ddp_ranks_do(tmp_path, cache_dir):
    root = make_folder(tmp_path / "images", per_class=60)
    # Started together, both decode; each renames its finished copy into place, and the loser drops its own.
    ranks = [subprocess.Popen([sys.executable, "-c", _CHILD, str(root)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    answers = [rank.communicate(timeout=120)[0].split() for rank in ranks]
    assert [rank.returncode for rank in ranks] == [0, 0]
    expected = load_cached_folder(root)
    assert answers[0] == answers[1] == [str(len(expected)), str(int(expected.load_all().astype(np.int64).sum()))]
    assert len(cache_entries(cache_dir)) == 1


def test_a_dataset_over_the_memory_budget_stays_on_disk_with_the_same_split(tmp_path, cache_dir):
    root = make_folder(tmp_path / "images", per_class=20)
    in_memory = load_dataset(str(root), seed=3, limit=50)
    mapped = load_dataset(str(root), seed=3, limit=50, memory_budget=0)
    assert isinstance(mapped.train_images, MappedImages) and not isinstance(in_memory.train_images, MappedImages)
    assert mapped.train_images.shape == in_memory.train_images.shape
    assert torch.equal(mapped.train_images[torch.arange(len(mapped.train_images))], in_memory.train_images)
    assert torch.equal(mapped.val_images[:], in_memory.val_images)
    assert torch.equal(mapped.train_labels, in_memory.train_labels)
    assert mapped.mean == pytest.approx(in_memory.mean) and mapped.std == pytest.approx(in_memory.std)
    assert torch.equal(mapped.train_images[4], in_memory.train_images[4])


@pytest.mark.parametrize("prefetch", [False, True])
def test_streamed_batches_equal_device_batches_and_release_pages(prefetch, tmp_path, cache_dir, monkeypatch):
    root = make_folder(tmp_path / "images", per_class=30)
    mapped = load_dataset(str(root), seed=1, memory_budget=0)
    images = mapped.train_images[:]
    augmentation = AugmentationSettings(flip=True, crop_padding=2, brightness=0.2)
    common = dict(batch_size=16, device="cpu", mean=mapped.mean, std=mapped.std, shuffle=True,
                  augmentation=augmentation, seed=5)
    released = []
    monkeypatch.setattr(image_cache, "RELEASE_BYTES", 1000)
    monkeypatch.setattr(mapped.train_images.cache, "release_pages",
                        lambda: released.append(1) or image_cache.CachedImages.release_pages(mapped.train_images.cache))
    streamed = StreamedBatches(mapped.train_images, mapped.train_labels, **common, prefetch=prefetch)
    in_memory = DeviceBatches(images, mapped.train_labels, **common)
    assert len(streamed) == len(in_memory) >= 4
    for (a, la), (b, lb) in zip(streamed.epoch(2), in_memory.epoch(2), strict=True):
        assert torch.equal(a, b) and torch.equal(la, lb)
    later = list(streamed.iter_from(1, 4))
    expected = list(in_memory.iter_from(1, 4))
    assert len(later) == len(streamed) - 4 and all(torch.equal(a, b) for (a, _), (b, _) in zip(later, expected))
    assert released  # pages were handed back while reading
    # Leaving an epoch early stops the reading thread.
    iterator = streamed.epoch(0)
    next(iterator)
    iterator.close()


def test_training_streams_a_folder_over_the_budget(tmp_path, cache_dir, monkeypatch):
    from convstudio.core.design import Design
    from convstudio.core.training.engine import TrainingRun
    from convstudio.core.training.records import EndReason
    from convstudio.core.training.settings import TrainingSettings

    root = make_folder(tmp_path / "images", per_class=20, size=8)
    monkeypatch.setenv("CONVSTUDIO_DATA_BUDGET_MB", "0")
    design = Design.model_validate({
        "name": "tiny", "input": {"channels": 3, "height": 8, "width": 8},
        "layers": [{"kind": "flatten"}, {"kind": "linear", "out_features": 3, "activation": "none"}]})
    settings = TrainingSettings(dataset=str(root), epochs=1, batch_size=8, device="cpu", mc_samples=1)
    run = TrainingRun(design, settings)
    ended = run.run()
    assert ended.reason == EndReason.FINISHED, ended.message
    assert isinstance(run.prepared.train_batches, StreamedBatches)
