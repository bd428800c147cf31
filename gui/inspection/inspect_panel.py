"""The Inspect view: one image through a trained run or the untrained design, every layer in view.

Choose the network (the design as it is, or one of its runs) and the image (a
test image by number, one clicked in the data browser, an image file opened or
dropped here). The view shows the top-5 predictions, the chosen layer's feature
maps (one tile per channel; colour scale, shared or per-tile range, channel
order by mean), the first convolution's filters, every layer's activation
histogram with the fraction of ReLU zeros, Grad-CAM or saliency over the image
with an opacity slider, and, for a clicked unit of the feature maps, its
theoretical receptive field on the image beside its effective one. Inspecting
runs on a worker thread; colour scale, order and opacity redraw at once.
Right-click a picture to export it as PNG.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QScrollArea,
    QSlider, QSpinBox, QVBoxLayout, QWidget,
)

from convstudio.core.jobs import JobFailed
from convstudio.gui.background import Worker
from convstudio.gui.inspection.jobs import SubjectKey, inspect_job, unit_job
from convstudio.gui.inspection.picture_view import PictureView

COLOUR_SCALES = ("viridis", "inferno", "grey")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class InspectPanel(QWidget):
    """Look inside the network on one image. ``runs_folder()`` gives the current design's runs folder."""

    def __init__(self, document, runs_folder: Callable[[], Path], choose_path: Callable[[str, str], str],
                 parent=None):
        super().__init__(parent)
        self.setObjectName("inspectPanel")
        self.setAcceptDrops(True)
        self.document = document
        self._runs_folder = runs_folder
        self.subject = None
        self._subject_key: SubjectKey | None = None
        self.image = None  # the PreparedImage shown
        self.result = None  # the core.inspection.view.ViewResult shown
        self._request = ("test", 0)
        self._pending: tuple | None = None  # a request made while a job ran: the latest wins
        self.worker = Worker(self, "thread", "inspect")
        self.worker.returned.connect(self._on_returned)
        self.worker.errored.connect(self._on_failed)
        self.worker.finished.connect(self._on_finished)
        self.worker.progressed.connect(self._on_progress)

        self.network = QComboBox(self)
        self.network.setObjectName("inspectNetwork")
        self.network.setMinimumContentsLength(28)
        self.open_run_button = QPushButton("Open run…", self)
        self.test_index = QSpinBox(self)
        self.test_index.setObjectName("inspectTestIndex")
        self.test_index.setRange(0, 1_000_000)
        self.test_index.setPrefix("test image ")
        self.show_button = QPushButton("Inspect", self)
        self.show_button.setObjectName("inspectRun")
        self.open_image_button = QPushButton("Open image…", self)
        self.layer = QComboBox(self)
        self.layer.setObjectName("inspectLayer")
        self.layer.setToolTip("Feature maps, Grad-CAM and clicked units of this layer")
        self.layer.setMinimumContentsLength(20)
        self.class_choice = QComboBox(self)
        self.class_choice.setObjectName("inspectClass")
        self.class_choice.setToolTip("The class saliency and Grad-CAM explain")
        self.class_choice.setMinimumContentsLength(14)
        self.scale = QComboBox(self)
        self.scale.setObjectName("inspectScale")
        self.scale.addItems(COLOUR_SCALES)
        self.shared_scale = QCheckBox("one colour range per layer", self)
        self.shared_scale.setObjectName("inspectSharedScale")
        self.shared_scale.setChecked(True)
        self.shared_scale.setToolTip("Checked: tiles compare (same range); unchecked: each tile spans its own range")
        self.sort_by_mean = QCheckBox("channels by mean", self)
        self.sort_by_mean.setObjectName("inspectSortByMean")
        self.overlay = QComboBox(self)
        self.overlay.setObjectName("inspectOverlay")
        self.overlay.addItems(["Grad-CAM", "saliency"])
        self.opacity = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity.setObjectName("inspectOpacity")
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setFixedWidth(120)
        self.progress = QProgressBar(self)
        self.progress.setFixedWidth(120)
        self.progress.hide()
        self.status = QLabel("Choose a network and an image, then Inspect (or click an image in the data browser, "
                             "or drop an image file here).", self)
        self.status.setObjectName("inspectStatus")
        self.status.setWordWrap(True)

        self.views = {name: PictureView(name, choose_path, self) for name in
                      ("image", "top5", "overlay", "maps", "receptive_field", "filters", "layer_filters", "histograms")}
        self.views["maps"].setToolTip("Click a unit to draw its receptive field; right-click to export as PNG")
        self.views["maps"].setCursor(Qt.CursorShape.CrossCursor)

        first = QHBoxLayout()
        for widget in (QLabel("Network", self), self.network, self.open_run_button, QLabel("Image", self),
                       self.test_index, self.show_button, self.open_image_button, self.progress):
            first.addWidget(widget)
        first.addStretch(1)
        second = QHBoxLayout()
        for widget in (QLabel("Layer", self), self.layer, QLabel("class", self), self.class_choice,
                       QLabel("colours", self), self.scale, self.shared_scale, self.sort_by_mean,
                       QLabel("overlay", self), self.overlay, QLabel("opacity", self), self.opacity):
            second.addWidget(widget)
        second.addStretch(1)
        # Columns stack their pictures on their own: the image and what explains it, the chosen layer's
        # maps, then the clicked unit's fields and the filters; histograms of every layer below.
        pictures = QWidget(self)
        grid = QGridLayout(pictures)
        columns = (("image", "overlay", "top5"), ("maps",), ("receptive_field", "layer_filters", "filters"))
        for number, names in enumerate(columns):
            column = QVBoxLayout()
            for name in names:
                column.addWidget(self.views[name], 0, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            column.addStretch(1)
            grid.addLayout(column, 0, number)
        grid.addWidget(self.views["histograms"], 1, 0, 1, 3, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        grid.setColumnStretch(3, 1)
        grid.setRowStretch(2, 1)
        scroll = QScrollArea(self)
        scroll.setWidget(pictures)
        scroll.setWidgetResizable(True)
        layout = QVBoxLayout(self)
        layout.addLayout(first)
        layout.addLayout(second)
        layout.addWidget(self.status)
        layout.addWidget(scroll, 1)

        self.open_run_button.clicked.connect(self._on_open_run)
        self.show_button.clicked.connect(self._on_show_test_image)
        self.open_image_button.clicked.connect(self._on_open_image)
        self.layer.activated.connect(self._rerun)
        self.class_choice.activated.connect(self._rerun)
        self.scale.currentIndexChanged.connect(self._redraw_maps)
        self.shared_scale.toggled.connect(self._redraw_maps)
        self.sort_by_mean.toggled.connect(self._redraw_maps)
        self.overlay.currentIndexChanged.connect(self._redraw_overlay)
        self.opacity.valueChanged.connect(self._redraw_overlay)
        self.views["maps"].clicked.connect(self._on_maps_clicked)
        self.refresh_networks()

    # -- choosing what to look at -------------------------------------------------------------
    def refresh_networks(self) -> None:
        """List the design (untrained) and its runs that have weights, newest first."""
        from convstudio.core.training.run_index import list_runs

        current = self.network.currentData()
        self.network.clear()
        self.network.addItem("Current design (untrained)", None)
        for run in list_runs(self._runs_folder()):
            if (run.path / "best.pt").is_file() or (run.path / "checkpoint.pt").is_file():
                accuracy = f", val. acc. {run.best_val_accuracy:.1%}" if run.best_val_accuracy is not None else ""
                self.network.addItem(f"run {run.name} ({run.dataset}{accuracy})", str(run.path))
        index = self.network.findData(current)
        self.network.setCurrentIndex(max(index, 0))

    def use_run(self, run_dir: str | Path) -> None:
        """Choose a run folder as the network (added to the list when it is not there)."""
        index = self.network.findData(str(run_dir))
        if index < 0:
            self.network.addItem(f"run {Path(run_dir).name}", str(run_dir))
            index = self.network.count() - 1
        self.network.setCurrentIndex(index)

    def _key(self) -> SubjectKey:
        run = self.network.currentData()
        return SubjectKey(Path(run) if run else None, None if run else self.document.design)

    def inspect(self, request: tuple) -> None:
        """Inspect ``request``: ("test", index), ("file", path) or ("image", PreparedImage)."""
        self._request = request
        self._start(request)

    def _options(self):
        from convstudio.core.inspection.view import ViewOptions

        class_index = self.class_choice.currentData()
        return ViewOptions(layer=self.layer.currentData(), class_index=class_index, scale=self.scale.currentText(),
                           shared_scale=self.shared_scale.isChecked(), sort_by_mean=self.sort_by_mean.isChecked(),
                           overlay=self.overlay.currentText(), opacity=self.opacity.value() / 100)

    def _start(self, request: tuple) -> None:
        if self.worker.running:
            self._pending = request
            return
        key = self._key()
        if not key.same_as(self._subject_key):
            self.subject = None
            self._subject_key = key
            self.layer.clear()
            self.class_choice.clear()
        self.status.setText("Inspecting…")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.worker.start(inspect_job, key, self.subject, request, self._options())

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    @Slot()
    def _on_show_test_image(self) -> None:
        self.inspect(("test", self.test_index.value()))

    @Slot()
    def _on_open_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", "",
                                              "Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + ")")
        if path:
            self.inspect(("file", path))

    @Slot()
    def _on_open_run(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a run folder", str(self._runs_folder()))
        if folder:
            self.use_run(folder)

    @Slot()
    def _rerun(self, *_args) -> None:
        if self.image is not None:
            self._start(("image", self.image))

    # -- results ---------------------------------------------------------------------------------
    @Slot(object)
    def _on_returned(self, value) -> None:
        if len(value) == 2:  # a clicked unit
            inspection, picture = value
            self.result = type(self.result)(inspection, {**self.result.pictures, "receptive_field": picture})
            self.views["receptive_field"].set_picture(picture)
            self._describe_unit(inspection)
            return
        subject, image, result = value
        self.subject, self.image, self.result = subject, image, result
        self._fill_choices(result)
        for name, view in self.views.items():
            view.set_picture(result.pictures.get(name))
        inspection = result.inspection
        top_name, top_p = inspection.top()[0][1:]
        truth = f", true class {subject.classes[image.label]}" if image.label is not None and \
            image.label < len(subject.classes) else ""
        resize = f" ({image.resize})" if image.resize else ""
        self.status.setText(f"{subject.description}: {image.source}{resize}{truth}. Predicted {top_name} "
                            f"({top_p:.1%}). Click a unit of the feature maps to see its receptive field.")

    def _describe_unit(self, inspection) -> None:
        """Say which input pixels the clicked unit sees."""
        layer = inspection.record.layer(inspection.cam_layer)
        row, column = inspection.unit
        text = f"{inspection.cam_layer} unit (row {row}, column {column})"
        if layer.field is not None and inspection.box is not None:
            (top, bottom), (left, right) = inspection.box
            size = "×".join(map(str, layer.field.sizes))
            text += (f": receptive field {size}, image rows {top}–{bottom} and columns {left}–{right} (red); "
                     "its effective field, the gradient's magnitude, is beside it.")
        self.status.setText(text)

    def _fill_choices(self, result) -> None:
        """The layer and class lists, kept as chosen when they already list this network's."""
        from convstudio.core.inspection.view import layer_choices

        inspection = result.inspection
        layers = layer_choices(inspection)
        if [self.layer.itemData(i) for i in range(self.layer.count())] != layers:
            self.layer.clear()
            for name in layers:
                layer = inspection.record.layer(name)
                self.layer.addItem(f"{name} ({layer.shape_text})", name)
        self.layer.setCurrentIndex(max(self.layer.findData(inspection.cam_layer), 0))
        classes = inspection.subject.classes
        if self.class_choice.count() != len(classes) + 1:
            self.class_choice.clear()
            self.class_choice.addItem("predicted", None)
            for index, name in enumerate(classes):
                self.class_choice.addItem(f"{index}: {name}", index)

    @Slot(object)
    def _on_failed(self, failure: JobFailed) -> None:
        self.status.setText(failure.message)

    @Slot()
    def _on_finished(self) -> None:
        self.progress.hide()
        if self._pending is not None:
            request, self._pending = self._pending, None
            self._start(request)

    # -- cheap redraws on the GUI thread ---------------------------------------------------------
    @Slot()
    def _redraw_maps(self, *_args) -> None:
        if self.result is None:
            return
        from convstudio.core.inspection.view import feature_maps_picture

        inspection = self.result.inspection
        picture = feature_maps_picture(inspection.record.layer(inspection.cam_layer), self._options())
        self.result.pictures["maps"] = picture
        self.views["maps"].set_picture(picture)

    @Slot()
    def _redraw_overlay(self, *_args) -> None:
        if self.result is None:
            return
        from convstudio.core.inspection.view import overlay_picture

        picture = overlay_picture(self.result.inspection, self._options())
        self.result.pictures["overlay"] = picture
        self.views["overlay"].set_picture(picture)

    @Slot(int, int)
    def _on_maps_clicked(self, x: int, y: int) -> None:
        if self.result is None or self.worker.running:
            return
        from convstudio.core.inspection.render import channel_order, tile_at, title_height

        layer = self.result.inspection.record.layer(self.result.inspection.cam_layer)
        order = channel_order(layer.output, self.sort_by_mean.isChecked())
        hit = tile_at(tuple(layer.output.shape), (x, y), order, title_band=title_height())
        if hit is None:
            return
        channel, row, column = hit
        self.click_unit(row, column, channel)

    def click_unit(self, row: int, column: int, channel: int | None = None) -> None:
        """Draw the receptive field of unit (row, column) of the shown layer (``channel`` None: all channels)."""
        if self.result is not None and not self.worker.running:
            self.status.setText(f"Unit (row {row}, column {column})" +
                                (f" of channel {channel}" if channel is not None else "") + ": computing its field…")
            self.worker.start(unit_job, self.result.inspection, (row, column), channel)

    # -- dropping an image file ----------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self._dropped_image(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt's name
        path = self._dropped_image(event)
        if path is not None:
            event.acceptProposedAction()
            self.inspect(("file", path))

    @staticmethod
    def _dropped_image(event) -> str | None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        files = [url.toLocalFile() for url in urls if url.isLocalFile()]
        return next((path for path in files if Path(path).suffix.lower() in IMAGE_SUFFIXES), None)

    def shut_down(self) -> None:
        """Wait for work in progress (the window is closing)."""
        self.worker.shut_down()
