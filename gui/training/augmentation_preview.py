"""A preview of augmentation: a few real training images, and below them the same images augmented.

The images come from the chosen dataset (loaded once per dataset on a
background thread); each change of the augmentation settings draws again with
the core's :func:`~core.data.augment_batch`, exactly what training applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from convstudio.core.data.augmentation_settings import AugmentationSettings
from convstudio.core.jobs import JobFailed
from convstudio.gui.background import create_worker
from convstudio.gui.training.dataset_chooser import describe_dataset

if TYPE_CHECKING:  # torch loads with the first preview, off the GUI thread, not with the window
    import torch

SAMPLE_COUNT = 6  # fits the settings column: 6 x (64 + 2) pixels
_SCALE = 2  # screen pixels per image pixel
_GAP = 2
_DEBOUNCE_MS = 120


def sample_images(dataset: str, count: int = SAMPLE_COUNT) -> torch.Tensor:
    """The first ``count`` training images of a dataset, uint8 (N, C, H, W); DatasetUnavailable if missing."""
    from convstudio.core.data.datasets import load_dataset

    data = load_dataset(dataset, limit=max(2 * count, 20), val_fraction=0.1)
    return data.train_images[:count].clone()


def mosaic(rows: list[np.ndarray], scale: int = _SCALE, gap: int = _GAP) -> np.ndarray:
    """Rows of uint8 (N, C, H, W) images as one RGB (height, width, 3) array, each image ``scale`` times larger."""
    count, channels, height, width = rows[0].shape
    cell_h, cell_w = height * scale, width * scale
    canvas = np.full((len(rows) * (cell_h + gap) - gap, count * (cell_w + gap) - gap, 3), 128, dtype=np.uint8)
    for r, images in enumerate(rows):
        for c, image in enumerate(images):
            rgb = np.repeat(image, 3, axis=0) if channels == 1 else image[:3]
            big = rgb.transpose(1, 2, 0).repeat(scale, 0).repeat(scale, 1)
            top, left = r * (cell_h + gap), c * (cell_w + gap)
            canvas[top: top + cell_h, left: left + cell_w] = big
    return canvas


def _describe(failure: JobFailed) -> str:
    from convstudio.core.data.sources import DatasetUnavailable

    error = failure.error
    return str(error) if isinstance(error, DatasetUnavailable) else f"{type(error).__name__}: {error}"


class AugmentationPreview(QWidget):
    """Originals on top, augmented copies below; updates when the settings change."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("augmentationPreview")
        self.image_label = QLabel(self)
        self.image_label.setObjectName("augmentationGrid")
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.caption = QLabel(self)
        self.caption.setObjectName("augmentationCaption")
        self.caption.setWordWrap(True)
        self.shuffle_button = QPushButton("New draw", self)
        self.shuffle_button.setObjectName("previewShuffle")
        self.shuffle_button.setToolTip("Draw the random augmentations again")
        self.shuffle_button.clicked.connect(self._on_shuffle)
        row = QHBoxLayout()
        row.addWidget(self.caption, 1)
        row.addWidget(self.shuffle_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.image_label)
        layout.addLayout(row)
        self._dataset: str | None = None
        self._pending = False
        self._augmentation = AugmentationSettings()
        self._images: dict[str, torch.Tensor] = {}
        self._errors: dict[str, str] = {}
        self._loading: set[str] = set()
        self._draw = 0
        self.shown: np.ndarray | None = None  # the mosaic on screen, for tests
        self.renders = 0
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.render)

    def show_settings(self, dataset: str, augmentation: AugmentationSettings) -> None:
        """Preview ``augmentation`` on ``dataset`` (loads its images first if needed)."""
        if dataset == self._dataset and augmentation == self._augmentation and self.shown is not None:
            return
        self._dataset, self._augmentation = dataset, augmentation
        # A preview out of sight (a dock tab behind another) loads nothing until it is painted.
        self._pending = True
        if not self.visibleRegion().isEmpty():
            self._update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().paintEvent(event)
        if self._pending:
            QTimer.singleShot(0, self._update)

    @Slot()
    def _update(self) -> None:
        dataset = self._dataset
        if dataset is None or not self._pending:
            return
        self._pending = False
        if dataset not in self._images and dataset not in self._errors:
            self._load(dataset)
        self._debounce.start()

    def forget(self, dataset: str) -> None:
        """Drop a cached failure (e.g. after the dataset was downloaded) and load again."""
        self._errors.pop(dataset, None)
        if dataset == self._dataset:
            self._load(dataset)

    def _load(self, dataset: str) -> None:
        if dataset in self._loading:
            return
        self._loading.add(dataset)
        self.caption.setText(f"Loading {describe_dataset(dataset)} images…")
        create_worker(lambda _job: sample_images(dataset), parent=self, what="preview", connect={
            "returned": lambda images: self._on_loaded(dataset, images, ""),
            "errored": lambda failure: self._on_loaded(dataset, None, _describe(failure))})

    def _on_loaded(self, dataset: str, images, error: str) -> None:
        self._loading.discard(dataset)
        if images is None:
            self._errors[dataset] = error
        else:
            self._images[dataset] = images
        if dataset == self._dataset:
            self.render()

    @Slot()
    def _on_shuffle(self) -> None:
        self._draw += 1
        self.render()

    @Slot()
    def render(self) -> None:
        """Draw the originals and a fresh augmentation of them."""
        dataset = self._dataset
        if dataset is None or dataset in self._loading:
            return
        if dataset in self._errors:
            self.image_label.clear()
            self.shown = None
            self.caption.setText(f"No preview: {self._errors[dataset]}")
            return
        originals = self._images.get(dataset)
        if originals is None:
            return
        import torch

        from convstudio.core.data.augment import augment_batch

        generator = torch.Generator().manual_seed(self._draw)
        augmented = augment_batch(originals.float() / 255, self._augmentation, generator)
        augmented = (augmented * 255).round().clamp(0, 255).to(torch.uint8)
        self.shown = mosaic([originals.numpy(), augmented.numpy()])
        height, width, _ = self.shown.shape
        image = QImage(self.shown.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
        self.image_label.setPixmap(QPixmap.fromImage(image))
        self.renders += 1
        state = "augmentation off" if not self._augmentation.enabled else "augmented (drawn per image)"
        self.caption.setText(f"Top: {describe_dataset(dataset)} training images. Below: {state}.")
