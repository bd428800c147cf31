"""The built-in shapes dataset: deterministic, balanced, fast, and hard for a linear model."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from convstudio.core.data import SHAPES_CLASSES, generate_shapes


@pytest.fixture(autouse=True)
def one_thread():
    """Run on one thread: on a busy two-core machine, two threads can be ten times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_ten_distinct_class_names():
    assert len(SHAPES_CLASSES) == 10
    assert len(set(SHAPES_CLASSES)) == 10


def test_types_and_shapes():
    images, labels = generate_shapes(37, seed=3)
    assert images.dtype == torch.uint8 and images.shape == (37, 3, 32, 32)
    assert labels.dtype == torch.int64 and labels.shape == (37,)
    assert int(labels.min()) >= 0 and int(labels.max()) < 10
    bigger, _ = generate_shapes(5, seed=3, size=48)
    assert bigger.shape == (5, 3, 48, 48)


def test_same_seed_gives_identical_images_and_another_seed_does_not():
    first = generate_shapes(300, seed=11)
    second = generate_shapes(300, seed=11)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    other = generate_shapes(300, seed=12)
    assert not torch.equal(first[0], other[0])
    assert not torch.equal(first[1], other[1])


def test_classes_are_balanced_and_shuffled():
    _, labels = generate_shapes(1003, seed=0)
    counts = torch.bincount(labels, minlength=10)
    assert set(counts.tolist()) <= {100, 101} and int(counts.sum()) == 1003
    assert not torch.equal(labels[:10], torch.arange(10))


def test_images_vary_within_a_class():
    images, labels = generate_shapes(400, seed=5)
    disks = images[labels == 0].float()
    # Colours, backgrounds and positions vary: no pixel is nearly constant across the class.
    assert disks.std(0).min() > 20
    # Every image uses much of the 0..255 range (a shape against a contrasting background).
    spread = images.flatten(1).float()
    assert (spread.max(1).values - spread.min(1).values).min() > 60


def test_twenty_thousand_images_take_a_few_seconds():
    generate_shapes(64, seed=0)  # warm-up
    # CPU time of one thread: what the work costs, whatever else runs on the machine.
    started = time.process_time()
    images, _ = generate_shapes(20_000, seed=1)
    elapsed = time.process_time() - started
    assert images.shape[0] == 20_000
    assert elapsed < 10, f"generating 20,000 images took {elapsed:.1f} s of CPU time"


def _normalised(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (images.float() / 255 - mean) / std


def _train(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epochs: int) -> None:
    batch_size, learning_rate = 64, 3e-3
    steps = epochs * ((len(images) + batch_size - 1) // batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate, total_steps=steps)
    order = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        permutation = torch.randperm(len(images), generator=order)
        for start in range(0, len(images), batch_size):
            index = permutation[start : start + batch_size]
            loss = nn.functional.cross_entropy(model(images[index]), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()


def _accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(images).argmax(1) == labels).float().mean().item()


def test_linear_model_stays_far_below_a_small_cnn():
    train_u8, train_labels = generate_shapes(6000, seed=1)
    test_u8, test_labels = generate_shapes(1000, seed=2)
    mean = train_u8.float().mean((0, 2, 3), keepdim=True) / 255
    std = train_u8.float().std((0, 2, 3), keepdim=True) / 255
    train, test = _normalised(train_u8, mean, std), _normalised(test_u8, mean, std)

    torch.manual_seed(0)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    _train(linear, train, train_labels, epochs=10)  # it fits the training set far better than chance
    linear_accuracy = _accuracy(linear, test, test_labels)

    def block(inputs: int, outputs: int) -> list[nn.Module]:
        return [nn.Conv2d(inputs, outputs, 3, padding=1), nn.BatchNorm2d(outputs), nn.ReLU(), nn.MaxPool2d(2)]

    cnn = nn.Sequential(*block(3, 16), *block(16, 32), *block(32, 64), nn.Flatten(), nn.Linear(64 * 4 * 4, 10))
    _train(cnn, train, train_labels, epochs=3)
    cnn_accuracy = _accuracy(cnn, test, test_labels)

    assert linear_accuracy < 0.35, f"a linear model reaches {linear_accuracy:.0%}: the dataset is too easy"
    assert cnn_accuracy > 0.6, f"a small CNN reaches only {cnn_accuracy:.0%} after 3 short epochs"
    assert cnn_accuracy - linear_accuracy > 0.35
