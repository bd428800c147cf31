"""The Inspect dock: a run's test image through the view, a clicked unit, the overlay, the data browser."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PIL import Image

from convstudio.core.builder import build_model
from convstudio.core.design import Design, InputSpec
from convstudio.core.layers import Conv2d, Flatten, Linear, MaxPool2d
from convstudio.core.training.run_folder import RunFolder, save_checkpoint
from convstudio.core.training.settings import TrainingSettings
from convstudio.gui.lab import datasets as lab_datasets

WAIT_MS = 60_000


@pytest.fixture
def run_dir(tmp_path):
    design = Design(name="small", input=InputSpec(channels=3, height=16, width=16), layers=[
        Conv2d(out_channels=4, kernel_size=3, padding=1), MaxPool2d(kernel_size=2),
        Conv2d(out_channels=6, kernel_size=3, padding=1), Flatten(), Linear(out_features=10, activation="none"),
    ])
    folder = RunFolder(tmp_path / "run")
    folder.create(design, TrainingSettings(dataset="shapes", data_limit=40))
    save_checkpoint(folder.best_path, {"model": build_model(design, seed=2).state_dict()})
    lab_datasets.forget()
    yield folder.path
    lab_datasets.forget()


def _inspect(qtbot, panel, request):
    with qtbot.waitSignal(panel.worker.finished, timeout=WAIT_MS):
        panel.inspect(request)


def test_a_runs_test_image_its_layers_a_clicked_unit_and_the_overlay(window, qtbot, run_dir, tmp_path):
    window.findChild(type(window.inspect.action), "actionInspect").trigger()
    panel = window.inspect.panel
    assert window.inspect.dock.isVisible()
    panel.use_run(run_dir)
    _inspect(qtbot, panel, ("test", 3))
    assert "test image 3 of shapes" in panel.status.text() and "resized from 32x32 to 16x16" in panel.status.text()
    assert [panel.layer.itemData(i) for i in range(panel.layer.count())] == [
        "conv1", "conv1_relu", "maxpool1", "conv2", "conv2_relu"]
    assert panel.layer.currentData() == "conv2_relu"  # the last convolution's output
    assert panel.class_choice.count() == 11  # "predicted" and the ten shapes
    for name in ("image", "top5", "overlay", "maps", "receptive_field", "filters", "layer_filters", "histograms"):
        assert panel.views[name].picture is not None, name

    # Another layer: its maps and Grad-CAM.
    panel.layer.setCurrentIndex(2)
    with qtbot.waitSignal(panel.worker.finished, timeout=WAIT_MS):
        panel.layer.activated.emit(2)
    assert panel.result.inspection.cam_layer == "maxpool1"
    assert panel.result.inspection.record.layer("maxpool1").title == "maxpool1 (4x8x8, receptive field 4x4)"
    assert panel.views["layer_filters"].picture is None  # pooling has no filters

    # Click the first tile's bottom-right unit: (row 7, column 7) of channel 0.
    maps = panel.views["maps"]
    with qtbot.waitSignal(panel.worker.finished, timeout=WAIT_MS):
        maps.clicked.emit(2 + 47, 23 + 2 + 47)
    inspection = panel.result.inspection
    assert inspection.unit == (7, 7)
    # r = 4, j = 2, start = -1: unit 7 sees pixels -1 + 7*2 = 13 to 16, clipped to the image's 15.
    assert inspection.box == ((13, 15), (13, 15))

    # The opacity slider redraws the overlay at once, on the GUI thread.
    before = panel.views["overlay"].picture
    panel.opacity.setValue(90)
    assert panel.views["overlay"].picture is not before
    path = panel.views["overlay"].export(str(tmp_path / "overlay.png"))
    with Image.open(path) as saved:
        assert saved.format == "PNG"


def test_a_dropped_image_file_is_inspected(window, qtbot, run_dir, tmp_path):
    window.inspect.show()
    panel = window.inspect.panel
    panel.use_run(run_dir)
    image_path = tmp_path / "photo.png"
    Image.new("RGB", (40, 40), (250, 200, 0)).save(image_path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(image_path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(panel.worker.finished, timeout=WAIT_MS):
        panel.dropEvent(event)
    assert panel.image.source == str(image_path)
    assert "resized from 40x40 to 16x16" in panel.status.text()


def test_the_data_browser_shows_counts_and_sends_a_clicked_image_to_the_view(window, qtbot, run_dir, monkeypatch):
    from convstudio.core.data import load_dataset

    small = load_dataset("shapes", limit=60, image_size=16)
    monkeypatch.setattr(lab_datasets, "cached_dataset", lambda name, **kwargs: small)
    window.inspect.show()
    browser, panel = window.inspect.browser, window.inspect.panel
    panel.use_run(run_dir)
    with qtbot.waitSignal(browser.worker.finished, timeout=WAIT_MS):
        browser.load()
    assert browser.counts.rowCount() == 10
    total_test = sum(int(browser.counts.item(row, 3).text()) for row in range(10))
    assert total_test == len(small.test_labels)
    assert browser.mean_view.picture is not None and "mean" in browser.statistics.text()
    assert browser.images.count() >= 10
    item = browser.images.item(0)
    with qtbot.waitSignal(panel.worker.finished, timeout=WAIT_MS):
        browser._on_item_clicked(item)
    assert window.inspect.tabs.currentWidget() is panel
    assert panel.image.source.startswith("test image ")
