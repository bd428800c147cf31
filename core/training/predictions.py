"""What a trained model says about a few test images, and a run's final results on disk.

The dashboard shows a grid of test images with the predicted and the true
class. :func:`predict_examples` computes that from the model a run ended with,
through the same normalisation the engine trains with. :func:`save_results`
writes the results a finished run's folder lacks for reopening it later
(``results.json``: classes and confusion matrix; ``examples.npz``: the example
images and predictions), and :func:`load_results` reads them back without
running any code from the folder (JSON, and ``numpy.load`` with
``allow_pickle=False``).
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from convstudio.core.atomic import atomic_write_bytes, atomic_write_text
from convstudio.core.training.records import DropoutComparison, RunEnded
from convstudio.core.training.run_folder import dumps_json

if TYPE_CHECKING:  # torch loads with the first prediction: reading results needs none
    import torch

    from convstudio.core.data import DatasetSplits

RESULTS_FILE = "results.json"
EXAMPLES_FILE = "examples.npz"


@dataclass(frozen=True)
class ExamplePredictions:
    """Test images with the model's predicted class, its probability and the true class.

    ``images`` is uint8 (N, C, H, W), as the dataset stores them (not normalised).
    """

    classes: tuple[str, ...]
    images: np.ndarray
    labels: tuple[int, ...]
    predicted: tuple[int, ...]
    confidence: tuple[float, ...]

    @property
    def mistakes(self) -> int:
        """How many of the examples the model got wrong."""
        return sum(p != t for p, t in zip(self.predicted, self.labels))


@dataclass(frozen=True)
class RunResults:
    """A run's final results as its folder keeps them."""

    reason: str
    message: str
    classes: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...] | None
    test_accuracy: float | None
    test_loss: float | None
    dropout: DropoutComparison | None
    examples: ExamplePredictions | None

    @property
    def per_class_accuracy(self) -> tuple[float | None, ...]:
        """Share of each class's test images classified correctly (None for a class with none)."""
        return per_class_accuracy(self.confusion or ())


def per_class_accuracy(confusion: tuple[tuple[int, ...], ...]) -> tuple[float | None, ...]:
    """Row-wise accuracy of a confusion matrix (rows: true class)."""
    return tuple(row[index] / sum(row) if sum(row) else None for index, row in enumerate(confusion))


def predict_examples(model: torch.nn.Module, data: DatasetSplits, device: torch.device | str,
                     count: int = 32) -> ExamplePredictions | None:
    """The model's predictions on the first ``count`` test images (validation images if there is no test split).

    Returns None when the dataset has neither.
    """
    import torch

    from convstudio.core.data.batches import DeviceBatches

    with torch.no_grad():
        images, labels = data.test_images, data.test_labels
        if images.shape[0] == 0:
            images, labels = data.val_images, data.val_labels
        if images.shape[0] == 0:
            return None
        images, labels = images[:count], labels[:count]
        batches = DeviceBatches(images, labels, batch_size=images.shape[0], device=device, mean=data.mean,
                                std=data.std, shuffle=False, augmentation=None, seed=0)
        inputs, _ = next(iter(batches.epoch(0)))
        was_training = model.training
        model.eval()
        try:
            logits = model.logits(inputs) if hasattr(model, "logits") else model(inputs)
        finally:
            model.train(was_training)
        probabilities = torch.softmax(logits.float(), dim=1).cpu()
        confidence, predicted = probabilities.max(dim=1)
        return ExamplePredictions(
            classes=tuple(data.classes), images=images.numpy().copy(), labels=tuple(labels.tolist()),
            predicted=tuple(predicted.tolist()), confidence=tuple(round(c, 4) for c in confidence.tolist()),
        )


def save_results(run_dir: str | Path, ended: RunEnded, classes: tuple[str, ...],
                 examples: ExamplePredictions | None) -> None:
    """Write ``results.json`` (and ``examples.npz`` when given) into the run folder, atomically."""
    folder = Path(run_dir)
    data = {
        "reason": ended.reason.value, "message": ended.message, "classes": list(classes),
        "confusion": [list(row) for row in ended.confusion] if ended.confusion else None,
        "test_accuracy": ended.test_accuracy, "test_loss": ended.test_loss,
        "dropout": asdict(ended.dropout) if ended.dropout else None,
    }
    atomic_write_text(folder / RESULTS_FILE, dumps_json(data, indent=2) + "\n")
    if examples is not None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, images=examples.images, labels=np.array(examples.labels, dtype=np.int64),
                            predicted=np.array(examples.predicted, dtype=np.int64),
                            confidence=np.array(examples.confidence, dtype=np.float32),
                            classes=np.array(examples.classes, dtype=str))
        atomic_write_bytes(folder / EXAMPLES_FILE, buffer.getvalue())


def load_results(run_dir: str | Path) -> RunResults | None:
    """The results a run folder keeps, or None when the run wrote none (it never ended cleanly)."""
    folder = Path(run_dir)
    try:
        data = json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    dropout = DropoutComparison(**data["dropout"]) if data.get("dropout") else None
    confusion = tuple(tuple(row) for row in data["confusion"]) if data.get("confusion") else None
    return RunResults(data.get("reason", ""), data.get("message", ""), tuple(data.get("classes", ())), confusion,
                      data.get("test_accuracy"), data.get("test_loss"), dropout, _load_examples(folder))


def _load_examples(folder: Path) -> ExamplePredictions | None:
    try:
        with np.load(folder / EXAMPLES_FILE, allow_pickle=False) as stored:
            return ExamplePredictions(
                classes=tuple(str(name) for name in stored["classes"]), images=stored["images"],
                labels=tuple(int(v) for v in stored["labels"]), predicted=tuple(int(v) for v in stored["predicted"]),
                confidence=tuple(float(v) for v in stored["confidence"]),
            )
    except (FileNotFoundError, OSError, KeyError, ValueError):
        return None
