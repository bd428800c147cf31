"""How hard is the built-in dataset? A linear model on raw pixels against a small CNN.

A dataset worth training convolutions on must defeat a linear classifier and
yield to a small CNN. :func:`linear_vs_cnn` trains both the same way (Adam with a
one-cycle schedule, batch 64, a seeded order) on ``shapes`` images normalised
with the training split's statistics, and reports their accuracies. The test of
the dataset and ``bench/builtin_dataset_baselines.py`` (the README's figures)
both run it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from convstudio.core.data.builtin_shapes import generate_shapes

BATCH_SIZE = 64
LEARNING_RATE = 3e-3


@dataclass(frozen=True)
class BaselineAccuracies:
    """Accuracies of the two reference models after training (test: images of another seed)."""

    linear_train: float
    linear_test: float
    cnn_test: float


def linear_model() -> nn.Module:
    """A linear classifier on the raw pixels of a 3x32x32 image."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))


def small_cnn() -> nn.Module:
    """Three conv + batch-norm + ReLU + max-pool blocks (16, 32, 64 channels) and a linear layer."""
    def block(inputs: int, outputs: int) -> list[nn.Module]:
        return [nn.Conv2d(inputs, outputs, 3, padding=1), nn.BatchNorm2d(outputs), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(3, 16), *block(16, 32), *block(32, 64), nn.Flatten(), nn.Linear(64 * 4 * 4, 10))


def train(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epochs: int) -> None:
    """Adam with a one-cycle schedule, batch 64, in a seeded shuffled order."""
    steps = epochs * ((len(images) + BATCH_SIZE - 1) // BATCH_SIZE)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LEARNING_RATE, total_steps=steps)
    order = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        permutation = torch.randperm(len(images), generator=order)
        for start in range(0, len(images), BATCH_SIZE):
            index = permutation[start : start + BATCH_SIZE]
            loss = nn.functional.cross_entropy(model(images[index]), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of ``images`` the model classifies as ``labels`` (in evaluation mode)."""
    model.eval()
    with torch.no_grad():
        return (model(images).argmax(1) == labels).float().mean().item()


def linear_vs_cnn(train_count: int = 6000, test_count: int = 1000, linear_epochs: int = 10, cnn_epochs: int = 3,
                  seed: int = 0) -> BaselineAccuracies:
    """Train both reference models on ``train_count`` shapes images (data seed 1; test images: seed 2).

    ``seed`` seeds the models' initialisation.
    """
    train_u8, train_labels = generate_shapes(train_count, seed=1)
    test_u8, test_labels = generate_shapes(test_count, seed=2)
    mean = train_u8.float().mean((0, 2, 3), keepdim=True) / 255
    std = train_u8.float().std((0, 2, 3), keepdim=True) / 255
    images = (train_u8.float() / 255 - mean) / std
    test = (test_u8.float() / 255 - mean) / std
    torch.manual_seed(seed)
    linear = linear_model()
    train(linear, images, train_labels, linear_epochs)
    cnn = small_cnn()
    train(cnn, images, train_labels, cnn_epochs)
    return BaselineAccuracies(accuracy(linear, images, train_labels), accuracy(linear, test, test_labels),
                              accuracy(cnn, test, test_labels))
