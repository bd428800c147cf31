"""Files: save and reopen, presets, unreadable files, closing with unsaved changes, autosave, export."""

from __future__ import annotations

import shutil

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QImage
from PySide6.QtWidgets import QMessageBox

from convstudio.core.design import load_design
from convstudio.core.presets import load_preset

Button = QMessageBox.StandardButton


def edit_something(window):
    window.design_document.set_layer_field(0, "out_channels", 48)


def test_save_and_reopen_gives_the_same_design(window, make_window, tmp_path):
    edit_something(window)
    assert window.isWindowModified()
    target = tmp_path / "mine.json"
    window.dialogs.save_paths.append(str(target))
    window.findChild(QAction, "actionSave").trigger()  # no file yet: asks where
    assert target.is_file() and not window.isWindowModified()
    assert window.windowTitle().startswith("mine.json")
    assert load_design(target) == window.design_document.design

    other = make_window(load_preset("lenet"))
    other.dialogs.open_paths.append(str(target))
    other.findChild(QAction, "actionOpen").trigger()
    assert other.design_document.design == window.design_document.design
    assert other.design_document.path == str(target) and not other.isWindowModified()
    assert str(target.resolve()) in other.files.recent_files()

    # Save again goes to the same file without asking.
    edit_something(other)
    other.design_document.set_layer_field(0, "out_channels", 50)
    other.findChild(QAction, "actionSave").trigger()
    assert load_design(target).layers[0].out_channels == 50
    assert other.dialogs.save_paths == []


def test_presets_menu_loads_cifar10_first_and_undo_restores(window):
    presets = [action for action in window.findChildren(QAction) if action.objectName().startswith("actionPreset_")]
    assert presets[0].objectName() == "actionPreset_cifar10"
    document = window.design_document
    original = document.design
    window.findChild(QAction, "actionPreset_lenet").trigger()
    assert document.design == load_preset("lenet")
    assert window.layer_stack.stack_model.rowCount() == len(document.design.layers) + 1
    assert window.isWindowModified()
    window.undo_action.trigger()
    assert document.design == original


def test_unreadable_file_gives_a_message_not_an_exception(window, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"input": {"channels": 3, "height": 32, "width": 32}, "layers": [{"kind": "conv2d"}]}')
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    before = window.design_document.design
    for path, words in ((broken, "out_channels is required"), (garbage, "not valid JSON")):
        window.dialogs.open_paths.append(str(path))
        window.findChild(QAction, "actionOpen").trigger()
        title, text = window.dialogs.warnings[-1]
        assert title == "Cannot open design" and words in text and str(path) in text
    assert window.design_document.design == before


def test_closing_with_unsaved_changes_asks(window, tmp_path):
    edit_something(window)
    window.dialogs.answers.append(Button.Cancel)
    assert not window.close()
    assert window.isVisible() and len(window.dialogs.questions) == 1
    window.dialogs.answers.append(Button.Save)
    window.dialogs.save_paths.append(str(tmp_path / "kept.json"))
    window.dialogs.answers.append(Button.Discard)  # not reached: saving succeeds
    assert window.close()
    assert (tmp_path / "kept.json").is_file()


def test_discard_closes_and_docks_are_remembered(make_window):
    window = make_window()
    edit_something(window)
    window.diagram_dock.hide()
    window.dialogs.answers.append(Button.Discard)
    assert window.close()
    assert QSettings().value("mainWindow/geometry") is not None
    again = make_window()
    assert again.diagram_dock.isHidden() and not again.inspector_dock.isHidden()


def test_new_starts_empty_after_asking(window):
    edit_something(window)
    window.dialogs.answers.append(Button.Discard)
    window.findChild(QAction, "actionNew").trigger()
    assert window.design_document.design.layers == [] and not window.isWindowModified()
    assert window.layer_stack.stack_model.rowCount() == 1


def test_autosave_and_recovery_after_a_crash(make_window, qtbot, tmp_path):
    saved = tmp_path / "design.json"
    load_preset("cifar10")  # the file on disk is the preset
    saved.write_text(load_preset("cifar10").to_json())
    window = make_window(load_design(saved), str(saved), autosave_dir=tmp_path / "auto", autosave_interval_ms=20)
    edit_something(window)
    autosaver = window.files.autosaver
    qtbot.waitUntil(autosaver.design_file.is_file, timeout=3000)
    assert load_design(autosaver.design_file) == window.design_document.design

    # A crash leaves the autosave behind with a stale lock: copy what is on disk, without the live lock.
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    shutil.copy(autosaver.design_file, crashed)
    shutil.copy(autosaver.meta_file, crashed)

    restarted = make_window(load_preset("cifar10"), autosave_dir=crashed)
    restarted.dialogs.answers.append(Button.Yes)
    assert restarted.offer_recovery()
    assert "were autosaved" in restarted.dialogs.questions[0][1]
    document = restarted.design_document
    assert document.design.layers[0].out_channels == 48
    assert document.path == str(saved) and restarted.isWindowModified()
    # The crashed session's autosave is consumed; the recovered edits are autosaved at once by this session.
    left = sorted(path.name for path in crashed.glob("*.json") if not path.name.endswith(".meta.json"))
    assert left == [restarted.files.autosaver.design_file.name]
    restarted.undo_action.trigger()  # back to the saved file
    assert document.design == load_design(saved)

    # Saving removes the autosave; nothing is offered at the next start.
    window.findChild(QAction, "actionSave").trigger()
    assert not autosaver.design_file.exists()
    fresh = make_window(autosave_dir=tmp_path / "auto")
    assert not fresh.offer_recovery() and fresh.dialogs.questions == []


def test_an_autosave_older_than_the_saved_file_is_not_offered(make_window, tmp_path):
    import os

    saved = tmp_path / "design.json"
    saved.write_text(load_preset("cifar10").to_json())
    window = make_window(load_design(saved), str(saved), autosave_dir=tmp_path / "auto")
    edit_something(window)
    autosave = window.files.autosaver.save_now()
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    shutil.copy(autosave, crashed)
    shutil.copy(window.files.autosaver.meta_file, crashed)
    os.utime(saved, (autosave.stat().st_mtime + 10,) * 2)  # saved after the autosave
    later = make_window(autosave_dir=crashed)
    assert not later.offer_recovery() and later.dialogs.questions == []


def test_diagram_exports_png_and_svg(window, tmp_path):
    diagram = window.diagram
    assert len(diagram.volumes) == 15  # input, 8 conv, 2 pool, flatten, 3 linear
    png, svg = tmp_path / "net.png", tmp_path / "net.svg"
    window.dialogs.save_paths += [str(png), str(svg)]
    assert window._export_diagram("png") and window._export_diagram("svg")
    image = QImage(str(png))
    assert not image.isNull() and image.width() >= diagram.sizeHint().width()
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and "conv8" in text and "64x33x33" in text
    # The diagram follows edits.
    window.design_document.set_layer_field(0, "out_channels", 8)
    assert diagram.volumes[1].shape_text == "8x33x33"
