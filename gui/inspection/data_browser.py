"""The data browser: a dataset's images per class, its class counts per split, mean image and statistics.

Loading runs on a worker thread (the built-in shapes are generated, CIFAR10 is
read from disk; :func:`gui.lab.datasets.cached_dataset` keeps the last one).
Clicking an image emits :attr:`DataBrowser.image_chosen` with it, ready for
the Inspect view.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QListWidget, QListWidgetItem, QPushButton,
    QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from convstudio.core.jobs import JobContext, JobFailed
from convstudio.gui.background import Worker
from convstudio.gui.inspection.picture_view import PictureView, pixmap_from_pil

DATASETS = ("shapes", "cifar10", "mnist", "fashion-mnist")
ICON_SIZE = 64


def _load(job: JobContext, name: str, split: str, per_class: int):
    """Worker job: the dataset (cached), its overview, and the images shown per class."""
    from convstudio.core.inspection.dataset_overview import examples_per_class, overview
    from convstudio.core.inspection.render import image_picture
    from convstudio.gui.lab.datasets import cached_dataset

    data = cached_dataset(name)
    summary = overview(data)
    labels = getattr(data, f"{split}_labels")
    images = getattr(data, f"{split}_images")
    shown = []
    for label, indices in enumerate(examples_per_class(labels, data.num_classes, per_class)):
        for index in indices:
            shown.append((label, index, image_picture(images[index], size=ICON_SIZE)))
    return data, summary, shown


class DataBrowser(QWidget):
    """Browse a dataset and pick an image: ``image_chosen(PreparedImage)``."""

    image_chosen = Signal(object)

    def __init__(self, choose_path: Callable[[str, str], str], parent=None):
        super().__init__(parent)
        self.setObjectName("dataBrowser")
        self.data = None
        self._split = "test"
        self.worker = Worker(self, "thread", "dataset")
        self.worker.returned.connect(self._on_loaded)
        self.worker.errored.connect(self._on_failed)

        self.dataset = QComboBox(self)
        self.dataset.setObjectName("browserDataset")
        self.dataset.setEditable(True)
        self.dataset.addItems(DATASETS)
        self.dataset.setToolTip("A dataset name, or the path of an image folder with one subfolder per class")
        self.split = QComboBox(self)
        self.split.setObjectName("browserSplit")
        self.split.addItems(["test", "val", "train"])
        self.per_class = QSpinBox(self)
        self.per_class.setRange(1, 50)
        self.per_class.setValue(8)
        self.per_class.setPrefix("per class: ")
        self.load_button = QPushButton("Show", self)
        self.load_button.setObjectName("browserLoad")
        self.load_button.clicked.connect(self.load)
        self.status = QLabel("", self)
        self.status.setObjectName("browserStatus")
        self.status.setWordWrap(True)

        self.images = QListWidget(self)
        self.images.setObjectName("browserImages")
        self.images.setViewMode(QListWidget.ViewMode.IconMode)
        self.images.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.images.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.images.setMovement(QListWidget.Movement.Static)
        self.images.setSpacing(2)
        self.images.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.images.itemClicked.connect(self._on_item_clicked)

        self.counts = QTableWidget(0, 4, self)
        self.counts.setObjectName("browserCounts")
        self.counts.setHorizontalHeaderLabels(["class", "train", "validation", "test"])
        self.counts.verticalHeader().hide()
        self.counts.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.counts.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.mean_view = PictureView("mean_image", choose_path, self)
        self.statistics = QLabel("", self)
        self.statistics.setObjectName("browserStatistics")
        self.statistics.setWordWrap(True)

        controls = QHBoxLayout()
        for widget in (QLabel("Dataset", self), self.dataset, QLabel("split", self), self.split, self.per_class,
                       self.load_button):
            controls.addWidget(widget)
        controls.addStretch(1)
        side = QVBoxLayout()
        side.addWidget(self.counts, 1)
        side.addWidget(QLabel("Mean training image", self))
        side.addWidget(self.mean_view)
        side.addWidget(self.statistics)
        body = QHBoxLayout()
        body.addWidget(self.images, 3)
        body.addLayout(side, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addLayout(body, 1)

    def load(self) -> None:
        """Load the chosen dataset off the GUI thread and show it."""
        if self.worker.running:
            return
        name = self.dataset.currentText().strip() or "shapes"
        self._split = self.split.currentText()
        self.status.setText(f"Loading {name}…")
        self.load_button.setEnabled(False)
        self.worker.start(_load, name, self._split, self.per_class.value())

    @Slot(object)
    def _on_loaded(self, result) -> None:
        data, summary, shown = result
        self.data = data
        self.load_button.setEnabled(True)
        self.images.clear()
        previous = None
        for label, index, picture in shown:
            # The first image of each class carries its name: the grid reads class by class.
            item = QListWidgetItem(QIcon(pixmap_from_pil(picture)), data.classes[label] if label != previous else "")
            previous = label
            item.setData(Qt.ItemDataRole.UserRole, index)
            item.setToolTip(f"{data.classes[label]}: {self._split} image {index}")
            self.images.addItem(item)
        self.counts.setRowCount(len(summary.classes))
        for row, values in enumerate(summary.table_rows()):
            for column, value in enumerate(values):
                cell = QTableWidgetItem(str(value))
                if column:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.counts.setItem(row, column, cell)
        from convstudio.core.inspection.render import image_picture

        self.mean_view.set_picture(image_picture(summary.mean_image, size=96))
        channels = ", ".join(f"{m:.3f} ± {s:.3f}" for m, s in zip(summary.mean, summary.std))
        self.statistics.setText(f"Per-channel mean ± standard deviation (training split, [0, 1] units; training "
                                f"normalises with these): {channels}")
        shown_classes = len({label for label, _, _ in shown})
        self.status.setText(f"{data.name}: {len(shown)} {self._split} images of {shown_classes} classes shown, "
                            f"in class order. Click one to inspect it.")

    @Slot(object)
    def _on_failed(self, failure: JobFailed) -> None:
        self.load_button.setEnabled(True)
        self.status.setText(failure.message)

    @Slot(QListWidgetItem)
    def _on_item_clicked(self, item: QListWidgetItem) -> None:
        if self.data is None:
            return
        from convstudio.core.inspection.images import dataset_image

        self.image_chosen.emit(dataset_image(self.data, int(item.data(Qt.ItemDataRole.UserRole)), self._split))

    def shut_down(self) -> None:
        """Wait for a load in progress (the window is closing)."""
        self.worker.shut_down()
