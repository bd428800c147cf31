"""DeviceBatches: every sample once per epoch, epochs reproducible on their own, exact resume."""

from __future__ import annotations

import pytest
import torch

import convstudio.core.data.batches as batches_module
from convstudio.core.data import AugmentationSettings, DeviceBatches

MEAN, STD = (0.2, 0.5, 0.7), (0.1, 0.25, 0.3)
AUGMENT = AugmentationSettings(flip=True, rotate_degrees=10, crop_scale=0.8, brightness=0.2, contrast=0.2)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


def dataset(count: int = 103) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images; each label is the sample's index, so every sample can be traced."""
    images = torch.randint(0, 256, (count, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return images, torch.arange(count)


def make(shuffle=True, augmentation=None, seed=0, batch_size=10, **options) -> DeviceBatches:
    images, labels = dataset()
    return DeviceBatches(images, labels, batch_size, "cpu", MEAN, STD, shuffle, augmentation, seed, **options)


def collect(iterator) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    images, labels = [], []
    for x, y in iterator:
        images.append(x)
        labels.append(y)
    return images, labels


def test_each_epoch_visits_every_sample_once_in_a_new_order():
    batches = make()
    assert len(batches) == 11 and batches.num_samples == 103
    orders = []
    for epoch in range(3):
        _, labels = collect(batches.epoch(epoch))
        assert [len(y) for y in labels] == [10] * 10 + [3]
        order = torch.cat(labels)
        assert sorted(order.tolist()) == list(range(103))
        orders.append(order)
    assert not torch.equal(orders[0], orders[1]) and not torch.equal(orders[1], orders[2])
    assert not torch.equal(orders[0], torch.arange(103))


def test_drop_last_leaves_out_the_short_batch():
    batches = make(drop_last=True)
    assert len(batches) == 10
    _, labels = collect(batches.epoch(0))
    assert [len(y) for y in labels] == [10] * 10
    assert len(set(torch.cat(labels).tolist())) == 100


def test_without_shuffle_batches_come_in_storage_order():
    _, labels = collect(make(shuffle=False).epoch(5))
    assert torch.equal(torch.cat(labels), torch.arange(103))


def test_images_are_normalised_with_mean_and_std_and_match_their_labels():
    images, _ = dataset()
    batches = make(shuffle=True)
    for x, y in batches.epoch(0):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        expected = (images[y].float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        assert torch.allclose(x, expected, atol=1e-5)


def test_an_epoch_is_reproducible_without_running_the_ones_before():
    first = make(augmentation=AUGMENT, seed=7)
    for epoch in range(3):
        collect(first.epoch(epoch))
    images_a, labels_a = collect(first.epoch(3))
    fresh = make(augmentation=AUGMENT, seed=7)
    images_b, labels_b = collect(fresh.epoch(3))
    assert all(torch.equal(a, b) for a, b in zip(labels_a, labels_b, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(images_a, images_b, strict=True))
    other_seed = make(augmentation=AUGMENT, seed=8)
    assert not torch.equal(torch.cat(labels_a), torch.cat(collect(other_seed.epoch(3))[1]))


def test_iter_from_resumes_mid_epoch_exactly_without_the_skipped_work(monkeypatch):
    batches = make(augmentation=AUGMENT, seed=3)
    images_all, labels_all = collect(batches.epoch(2))
    calls = []
    real_augment = batches_module.augment_batch

    def counting(*args, **kwargs):
        calls.append(1)
        return real_augment(*args, **kwargs)

    monkeypatch.setattr(batches_module, "augment_batch", counting)
    images_rest, labels_rest = collect(make(augmentation=AUGMENT, seed=3).iter_from(2, 8))
    assert len(calls) == 3  # batches 8, 9 and 10 only
    assert len(labels_rest) == 3
    assert all(torch.equal(a, b) for a, b in zip(labels_all[8:], labels_rest, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(images_all[8:], images_rest, strict=True))
    assert collect(batches.iter_from(2, 11)) == ([], [])


def test_augmentation_changes_images_and_off_means_plain_normalisation():
    plain_images, plain_labels = collect(make(seed=1).epoch(0))
    aug_images, aug_labels = collect(make(seed=1, augmentation=AUGMENT).epoch(0))
    assert all(torch.equal(a, b) for a, b in zip(plain_labels, aug_labels, strict=True))
    assert not any(torch.allclose(a, b) for a, b in zip(plain_images, aug_images, strict=True))
    off_images, _ = collect(make(seed=1, augmentation=AugmentationSettings()).epoch(0))
    assert all(torch.equal(a, b) for a, b in zip(plain_images, off_images, strict=True))


def test_channels_last_output():
    x, _ = next(iter(make(channels_last=True).epoch(0)))
    assert x.is_contiguous(memory_format=torch.channels_last)


def test_bad_inputs_are_refused():
    images, labels = dataset()
    with pytest.raises(ValueError, match="uint8"):
        DeviceBatches(images.float(), labels, 8, "cpu", MEAN, STD, True, None, 0)
    with pytest.raises(ValueError, match="labels"):
        DeviceBatches(images, labels[:5], 8, "cpu", MEAN, STD, True, None, 0)
    with pytest.raises(ValueError, match="per channel"):
        DeviceBatches(images, labels, 8, "cpu", (0.5,), (0.5,), True, None, 0)
    with pytest.raises(ValueError, match="batch_size"):
        DeviceBatches(images, labels, 0, "cpu", MEAN, STD, True, None, 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_order_matches_the_cpu():
    images, labels = dataset()
    on_gpu = DeviceBatches(images, labels, 10, "cuda", MEAN, STD, True, AUGMENT, 5)
    on_cpu = DeviceBatches(images, labels, 10, "cpu", MEAN, STD, True, AUGMENT, 5)
    gpu_images, gpu_labels = collect(on_gpu.epoch(1))
    _, cpu_labels = collect(on_cpu.epoch(1))
    assert gpu_images[0].is_cuda and gpu_labels[0].is_cuda
    assert all(torch.equal(g.cpu(), c) for g, c in zip(gpu_labels, cpu_labels, strict=True))
    again, _ = collect(DeviceBatches(images, labels, 10, "cuda", MEAN, STD, True, AUGMENT, 5).iter_from(1, 4))
    assert all(torch.equal(a, b) for a, b in zip(gpu_images[4:], again, strict=True))
