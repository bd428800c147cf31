"""The data browser's numbers: class counts per split, the mean image, examples per class."""

from __future__ import annotations

import torch

from convstudio.core.data import load_dataset
from convstudio.core.inspection.dataset_overview import examples_per_class, mean_image, overview


def test_overview_counts_every_split_and_keeps_the_training_statistics():
    data = load_dataset("shapes", limit=60, image_size=16)
    summary = overview(data)
    assert sum(summary.counts["train"]) == len(data.train_labels)
    assert sum(summary.counts["val"]) == len(data.val_labels) and sum(summary.counts["test"]) == len(data.test_labels)
    assert summary.counts["train"][int(data.train_labels[0])] >= 1
    assert summary.mean == tuple(data.mean) and summary.std == tuple(data.std)
    assert summary.table_rows()[0][0] == data.classes[0]
    # The mean image agrees with the per-channel mean training normalises with.
    channel_means = summary.mean_image.double().mean(dim=(1, 2)) / 255
    assert torch.allclose(channel_means, torch.tensor(data.mean, dtype=torch.float64), atol=2 / 255)


def test_mean_image_and_examples():
    images = torch.tensor([[[[0, 10]]], [[[255, 20]]]], dtype=torch.uint8)
    assert mean_image(images).tolist() == [[[128, 15]]]
    labels = torch.tensor([2, 0, 2, 1, 0, 2])
    assert examples_per_class(labels, 3, 2) == [[1, 4], [3], [0, 2]]
