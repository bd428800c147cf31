"""The train panel's settings: editors from TrainingSettings' fields, saved with the design, undoable.

Also the dataset chooser (defaults, download failure offline, image folders),
the device list, the augmentation preview and the charts' own behaviour (PNG
export, hover readout). No training runs here.
"""

from __future__ import annotations

import urllib.error

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSpinBox

from convstudio.core.data.on_disk import REQUIRED_FILES
from convstudio.core.training.design_settings import settings_of
from convstudio.core.training.records import LayerStat, OptimizerLayerState, StepRecord
from convstudio.core.training.settings import TrainingSettings
from convstudio.gui.forms.field_specs import field_spec, form_fields


def test_every_setting_has_an_editor_built_from_its_field(panel_window):
    panel = panel_window().train_panel
    shown = {field.key for field in form_fields(TrainingSettings)}
    assert {key for key in shown if not key.startswith("augmentation.")} >= {
        "dataset", "optimizer", "learning_rate", "epochs", "batch_size", "schedule", "l2_penalty", "early_stopping",
        "init", "device", "seed", "momentum", "beta1", "beta2", "rho", "delta", "patience"}
    epochs = panel.form.editors["epochs"]
    spec = field_spec(TrainingSettings, "epochs")
    assert isinstance(epochs, QSpinBox)
    assert (epochs.minimum(), epochs.maximum()) == (spec.minimum, spec.maximum) == (1, 10_000)
    assert epochs.toolTip() == spec.description
    rotate = panel.form.editors["augmentation.rotate_degrees"]
    assert rotate.maximum() == 180 and "degrees" in rotate.toolTip()
    assert panel.form.editors["optimizer"].findText("rmsprop") >= 0


def test_a_setting_changed_is_saved_with_the_design_and_undoable(panel_window):
    window = panel_window()
    form = window.train_panel.form
    document = window.design_document
    assert document.design.training is None and not document.modified
    form.editors["epochs"].setValue(25)
    assert document.design.training["epochs"] == 25 and document.modified
    assert document.undo_stack.undoText() == "Set training epochs"
    form.editors["augmentation.flip"].setChecked(True)
    assert document.design.training["augmentation"] == {"flip": True}
    document.undo_stack.undo()
    document.undo_stack.undo()
    assert document.design.training is None or "epochs" not in document.design.training
    assert form.editors["epochs"].value() == TrainingSettings().epochs  # the view follows the model
    document.undo_stack.redo()
    assert form.editors["epochs"].value() == 25
    assert settings_of(document.design)[0].epochs == 25


def test_optimizer_specific_settings_show_only_for_their_optimizer(panel_window):
    form = panel_window().train_panel.form

    def visible(key):
        layout, editor = form.rows[key]
        return layout.isRowVisible(editor)

    assert visible("beta1") and not visible("momentum") and not visible("rho")
    form.set_setting("optimizer", "sgd")
    assert visible("momentum") and visible("nesterov") and not visible("beta1") and not visible("delta")
    form.set_setting("optimizer", "rmsprop")
    assert visible("rho") and visible("delta")
    assert not visible("patience")
    form.set_setting("early_stopping", True)
    assert visible("patience")


def test_the_optimizer_chart_follows_the_chosen_optimizer(panel_window):
    panel = panel_window().train_panel
    assert "Adam" in panel.charts.optimizer_chart.title_label.text()
    panel.form.set_setting("optimizer", "rmsprop")
    assert "RMSprop" in panel.charts.optimizer_chart.title_label.text()
    panel.form.set_setting("optimizer", "adagrad")
    assert "AdaGrad" in panel.charts.optimizer_chart.title_label.text()


def test_device_choices_say_what_was_found(panel_window, qtbot):
    device = panel_window().train_panel.form.editors["device"]
    # Devices are found on a background thread (it loads torch) once the window has shown.
    qtbot.waitUntil(lambda: device.found is not None, timeout=60_000)
    texts = [device.itemText(index) for index in range(device.count())]
    assert texts[0].startswith("auto: ") and any(text.startswith("CPU") for text in texts)
    assert "Found: CPU" in device.toolTip()


def test_built_in_shapes_preselected_unless_cifar10_is_on_disk(panel_window, tmp_path):
    window = panel_window()
    assert window.train_panel.form.settings().dataset == "shapes"
    for relative in REQUIRED_FILES["cifar10"]:
        (tmp_path / "data" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / relative).write_bytes(b"")
    assert panel_window().train_panel.form.settings().dataset == "cifar10"


def test_the_on_disk_check_agrees_with_torchvision_layout():
    from torchvision.datasets import CIFAR10, MNIST, FashionMNIST

    cifar = {f"{CIFAR10.base_folder}/{name}" for name, _ in CIFAR10.train_list + CIFAR10.test_list}
    cifar.add(f"{CIFAR10.base_folder}/{CIFAR10.meta['filename']}")
    assert set(REQUIRED_FILES["cifar10"]) == cifar
    for key, dataset in (("mnist", MNIST), ("fashion-mnist", FashionMNIST)):
        expected = {f"{dataset.__name__}/raw/{archive.removesuffix('.gz')}" for archive, _ in dataset.resources}
        assert set(REQUIRED_FILES[key]) == expected


def test_a_download_that_fails_offline_says_so_and_where(qtbot, panel_window, monkeypatch, tmp_path):
    import convstudio.core.data.download as download

    def offline(url, partial, progress):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(download, "_fetch_one", offline)
    window = panel_window()
    chooser = window.train_panel.form.dataset_chooser
    chooser.combo.setCurrentIndex(chooser.combo.findData("mnist"))
    chooser.combo.activated.emit(chooser.combo.currentIndex())
    assert window.design_document.design.training["dataset"] == "mnist"
    assert "not downloaded" in chooser.combo.currentText()
    assert chooser.download_button.isVisible() and "12 MB" in chooser.download_button.text()
    qtbot.mouseClick(chooser.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not chooser.downloading, timeout=20_000)
    text = chooser.message.text()
    assert text.startswith("Download failed: MNIST could not be downloaded") and "no network" in text
    assert str(tmp_path / "data") in text
    assert chooser.download_button.isVisible()  # try again later


def test_an_image_folder_can_be_chosen(panel_window, tmp_path):
    window = panel_window()
    chooser = window.train_panel.form.dataset_chooser
    chooser.choose_folder = lambda: str(tmp_path / "my images")
    chooser.combo.activated.emit(chooser.combo.findData("__choose_folder__"))
    assert window.design_document.design.training["dataset"] == str(tmp_path / "my images")
    assert chooser.combo.currentText() == f"Folder: {tmp_path / 'my images'}"


def test_the_preview_shows_augmented_training_images_and_follows_the_settings(qtbot, panel_window):
    panel = panel_window().train_panel
    preview = panel.preview
    qtbot.wait(300)
    assert preview.shown is None and preview._images == {}  # out of sight: nothing loaded
    panel.settings_scroll.ensureWidgetVisible(preview)  # scrolled into view: loads and draws
    qtbot.waitUntil(lambda: preview.shown is not None, timeout=30_000)
    assert np.array_equal(*image_rows(preview.shown))  # augmentation is off by default
    renders = preview.renders
    panel.form.set_setting("augmentation.rotate_degrees", 45.0)
    qtbot.waitUntil(lambda: preview.renders > renders, timeout=5_000)
    originals, augmented = image_rows(preview.shown)
    assert not np.array_equal(originals, augmented)
    assert "augmented" in preview.caption.text()


def image_rows(mosaic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The originals' row and the augmented row of the preview (two rows, a 2-pixel gap)."""
    height = (mosaic.shape[0] - 2) // 2
    return mosaic[:height], mosaic[-height:]


def test_the_training_menu_holds_start_pause_and_stop(panel_window):
    window = panel_window()
    menu = window.findChild(type(window.view_menu), "menuTraining")
    assert menu.menuAction() in window.menuBar().actions()
    names = [action.objectName() for action in menu.actions() if not action.isSeparator()]
    assert names == ["actionTrainStart", "actionTrainPause", "actionTrainStop", "actionRunLocalGpus",
                     "actionCopyClusterCommand", "actionExperiment_lr_finder", "actionExperiment_sweep"]
    assert menu.actions()[0].isEnabled() and not menu.actions()[2].isEnabled()


def _records(count: int) -> list[StepRecord]:
    layers = ("conv1", "fc1")
    records = []
    for step in range(1, count + 1):
        stats = state = None
        if step % 5 == 0:
            stats = tuple(LayerStat(layer, 1.0 / step, 2.0, 1e-3) for layer in layers)
            state = tuple(OptimizerLayerState(layer, {"s": 0.1, "r": 0.01, "s_hat": 0.2, "r_hat": 0.02}, 1e-4, 1e-3)
                          for layer in layers)
        records.append(StepRecord(step, 0, step - 1, count, 2.3 / step ** 0.3, 0.1, 1e-3, 500.0, stats, state))
    return records


def test_charts_draw_from_buffers_decimated_hover_and_export(qtbot, panel_window, tmp_path):
    window = panel_window()
    panel = window.train_panel
    charts = panel.charts
    panel.tabs.setCurrentWidget(charts)
    charts.curves.add_steps(_records(20_000))
    assert charts.refresh() == 1  # a tick draws one chart at most
    charts.draw_all()
    width = charts.loss_chart.plot_widget.width()
    assert charts.loss_chart.point_count("loss") == 20_000
    # 20,000 steps drawn cut to the plot's width (pyqtgraph's peak downsampling: ~5 buckets per pixel, 2 points each)
    assert 0 < charts.loss_chart.drawn_point_count("loss") <= 12.5 * width
    assert charts.gradient_chart.has_curve("fc1") and charts.optimizer_chart.has_curve("r_hat")
    assert [charts.layer_choice.itemText(i) for i in range(charts.layer_choice.count())] == ["conv1", "fc1"]
    text = charts.loss_chart.show_values_at(100.4)
    assert text.startswith(f"step 100: batch {2.3 / 100 ** 0.3:.4g}, smoothed ")  # the step's own value
    assert charts.loss_chart.readout.text() == text
    assert charts.refresh() == 0  # nothing new: nothing redrawn

    window.dialogs.save_paths.append(str(tmp_path / "loss.png"))
    qtbot.mouseClick(charts.loss_chart.export_button, Qt.MouseButton.LeftButton)
    assert (tmp_path / "loss.png").stat().st_size > 1000
