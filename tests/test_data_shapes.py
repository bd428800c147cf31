"""The built-in shapes dataset: deterministic, balanced, and hard for a linear model.

How fast it is generated, and the accuracies, are figures: ``python bench/builtin_dataset_baselines.py``.
"""

from __future__ import annotations

import pytest
import torch

from convstudio.core.data import SHAPES_CLASSES, generate_shapes
from convstudio.core.lab.dataset_baselines import linear_vs_cnn


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


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


def test_twenty_thousand_images_in_one_call():
    # How long it takes is a figure, printed by bench/builtin_dataset_baselines.py, not a test.
    images, labels = generate_shapes(20_000, seed=1)
    assert images.shape == (20_000, 3, 32, 32) and labels.shape == (20_000,)
    assert torch.bincount(labels, minlength=10).tolist() == [2000] * 10


def test_linear_model_stays_far_below_a_small_cnn():
    accuracies = linear_vs_cnn(train_count=6000, linear_epochs=10, cnn_epochs=3, seed=0)
    assert accuracies.linear_train > 0.3  # it fits the training set far better than chance
    linear_accuracy, cnn_accuracy = accuracies.linear_test, accuracies.cnn_test

    assert linear_accuracy < 0.35, f"a linear model reaches {linear_accuracy:.0%}: the dataset is too easy"
    assert cnn_accuracy > 0.6, f"a small CNN reaches only {cnn_accuracy:.0%} after 3 short epochs"
    assert cnn_accuracy - linear_accuracy > 0.35
