"""Choosing the training dataset: built-in shapes, CIFAR10, MNIST, Fashion-MNIST or an image folder.

Each downloadable dataset says whether it is on disk; when it is not, a button
downloads it (torchvision's files, with a progress bar) on a background thread.
A failed download (offline, say) shows the core's message, which names the
folder searched and how to put the files there. The chooser has the editors'
interface (``current()``, ``set_value()``, ``edited``), so the settings form
treats it like any other field editor.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget,
)

from convstudio.core.paths import default_data_dir
from convstudio.core.data.on_disk import DOWNLOAD_MEGABYTES, DOWNLOADABLE, dataset_on_disk
from convstudio.core.jobs import JobFailed
from convstudio.gui import theme
from convstudio.gui.background import Worker

TITLES = {"shapes": "Shapes (built in, no download)", "cifar10": "CIFAR10", "mnist": "MNIST",
          "fashion-mnist": "Fashion-MNIST"}
_CHOOSE_FOLDER = "__choose_folder__"


def download_dataset(job, key: str) -> None:
    """Download (and check by loading) a torchvision dataset, as a background job: progress in bytes."""
    from convstudio.core.data.datasets import load_dataset  # torch loads here, on the job's thread

    last = [-1]

    def progress(done: int, total: int) -> None:
        percent = int(100 * done / total) if total else -1
        if percent != last[0]:
            last[0] = percent
            job.progress(done, total)

    load_dataset(key, download=True, limit=10, progress=progress)


class DatasetChooser(QWidget):
    """A dataset name or image-folder path, with download buttons for what is missing."""

    edited = Signal(object)
    downloaded = Signal(str)  # a dataset that is now on disk

    def __init__(self, description: str = "", parent=None):
        super().__init__(parent)
        self.setObjectName("datasetChooser")
        self._value = "shapes"
        self.combo = QComboBox(self)
        self.combo.setObjectName("datasetChoice")
        self.combo.setToolTip(description)
        self.download_button = QPushButton(self)
        self.download_button.setObjectName("downloadButton")
        self.progress = QProgressBar(self)
        self.progress.setObjectName("downloadProgress")
        self.progress.hide()
        self.message = QLabel(self)
        self.message.setObjectName("datasetMessage")
        self.message.setWordWrap(True)
        self.message.hide()
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.download_button)
        row.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addWidget(self.combo)
        layout.addLayout(row)
        layout.addWidget(self.message)
        self._downloading: str | None = None
        self.downloader = Worker(self, what="download")
        self.downloader.progressed.connect(self._on_download_progress)
        self.downloader.returned.connect(self._on_downloaded)
        self.downloader.errored.connect(self._on_download_failed)
        self.combo.activated.connect(self._on_activated)
        self.download_button.clicked.connect(self.start_download)
        self._fill()

    # -- the editor interface --------------------------------------------------------
    def current(self) -> str:
        return self._value

    def set_value(self, value: str) -> None:
        self._value = value
        self._fill()

    def choose_folder(self) -> str:
        """Ask for an image folder ("" when cancelled); tests replace this."""
        return QFileDialog.getExistingDirectory(self, "Image folder (one subfolder per class)")

    # -- showing ----------------------------------------------------------------------
    def _fill(self) -> None:
        with QSignalBlocker(self.combo):
            self.combo.clear()
            for name, title in TITLES.items():
                state = "" if name == "shapes" else (" — on disk" if dataset_on_disk(name) else " — not downloaded")
                self.combo.addItem(title + state, name)
            if self._value.lower() not in TITLES:
                self.combo.addItem(f"Folder: {self._value}", self._value)
            self.combo.addItem("Image folder…", _CHOOSE_FOLDER)
            index = self.combo.findData(self._value.lower() if self._value.lower() in TITLES else self._value)
            self.combo.setCurrentIndex(max(index, 0))
        key = self._value.lower()
        missing = key in DOWNLOADABLE and not dataset_on_disk(key)
        self.download_button.setVisible(missing and self._downloading is None)
        if missing:
            self.download_button.setText(f"Download {TITLES[key]} ({DOWNLOAD_MEGABYTES[key]} MB)")
            self.download_button.setToolTip(f"Download into {default_data_dir()} (needs internet)")

    @Slot(int)
    def _on_activated(self, index: int) -> None:
        value = self.combo.itemData(index)
        if value == _CHOOSE_FOLDER:
            value = self.choose_folder()
            if not value:
                self._fill()
                return
        self._show_message("")
        if value != self._value:
            self._value = value
            self._fill()
            self.edited.emit(value)

    def _show_message(self, text: str, error: bool = False) -> None:
        self.message.setProperty("isError", error)
        colour = theme.hex_color(theme.error_color()) if error else None
        self.message.setStyleSheet(f"color: {colour};" if colour else "")
        self.message.setText(text)
        self.message.setVisible(bool(text))

    # -- downloading ------------------------------------------------------------------
    @property
    def downloading(self) -> bool:
        return self._downloading is not None

    @Slot()
    def start_download(self) -> None:
        """Download the chosen dataset on a background thread."""
        key = self._value.lower()
        if key not in DOWNLOADABLE or self._downloading is not None:
            return
        self._downloading = key
        self.download_button.hide()
        self.progress.setRange(0, 0)
        self.progress.setFormat(f"Downloading {TITLES[key]}… %p%")
        self.progress.show()
        self._show_message(f"Downloading {TITLES[key]} into {default_data_dir()}…")
        self.downloader.start(download_dataset, key)

    def _on_download_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{done / 1e6:.0f} of {total / 1e6:.0f} MB")

    @Slot(object)
    def _on_downloaded(self, _result) -> None:
        self._on_download_done("")

    @Slot(object)
    def _on_download_failed(self, failure: JobFailed) -> None:
        self._on_download_done(_failure_text(self._downloading, failure))

    def _on_download_done(self, error: str) -> None:
        key, self._downloading = self._downloading, None
        self.progress.hide()
        if error:
            self._show_message(f"Download failed: {error}", error=True)
        else:
            self._show_message(f"{TITLES[key]} is ready in {default_data_dir()}.")
            self.downloaded.emit(key)
        self._fill()


def _failure_text(key: str, failure: JobFailed) -> str:
    from convstudio.core.data.sources import DatasetUnavailable

    if isinstance(failure.error, DatasetUnavailable):
        return failure.message
    return f"{TITLES[key]} could not be downloaded: {type(failure.error).__name__}: {failure.message}"


def describe_dataset(value: str) -> str:
    """A short name for a dataset value (a folder shows its last part)."""
    return TITLES.get(value.lower(), f"folder {Path(value).name}").split(" (")[0]
