"""Recovered changes stay protected, and the autosave clock starts at the first unsaved edit."""

from __future__ import annotations

import shutil

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox

from convstudio.core.design import load_design
from convstudio.core.presets import load_preset

Button = QMessageBox.StandardButton


def _crash(window, into):
    """What a crash leaves: the window's autosave files, without the live lock."""
    into.mkdir(exist_ok=True)
    shutil.copy(window.files.autosaver.design_file, into)
    shutil.copy(window.files.autosaver.meta_file, into)
    return into


def _saved_preset(tmp_path):
    saved = tmp_path / "design.json"
    saved.write_text(load_preset("cifar10").to_json())
    return saved


def test_recovered_edits_survive_a_second_crash_before_the_next_autosave(make_window, tmp_path):
    saved = _saved_preset(tmp_path)
    first = make_window(load_design(saved), str(saved), autosave_dir=tmp_path / "auto")
    first.design_document.set_layer_field(0, "out_channels", 48)
    first.files.autosaver.save_now()
    crashed = _crash(first, tmp_path / "crash1")

    # The second session recovers the edits (a 30 s interval: no timer fires during the test) ...
    second = make_window(load_preset("cifar10"), autosave_dir=crashed)
    second.dialogs.answers.append(Button.Yes)
    assert second.offer_recovery()
    assert second.files.autosaver.design_file.is_file()  # written at once, not 30 s later
    # ... and crashes at once too: the third session still finds them.
    third_dir = _crash(second, tmp_path / "crash2")
    third = make_window(load_preset("cifar10"), autosave_dir=third_dir)
    third.dialogs.answers.append(Button.Yes)
    assert third.offer_recovery()
    assert third.design_document.design.layers[0].out_channels == 48
    assert third.design_document.path == str(saved)

    # Saving ends the protection: the autosave goes, and nothing is offered afterwards.
    third.findChild(QAction, "actionSave").trigger()
    assert not third.files.autosaver.design_file.exists()
    assert load_design(saved).layers[0].out_channels == 48
    fourth = make_window(autosave_dir=third_dir)
    assert not fourth.offer_recovery() and fourth.dialogs.questions == []


def test_the_autosave_timer_starts_at_the_first_unsaved_edit(make_window, qtbot, tmp_path):
    window = make_window(autosave_dir=tmp_path / "auto", autosave_interval_ms=150)
    autosaver = window.files.autosaver
    assert not autosaver.timer.isActive()  # nothing to save: no clock running since the window opened
    qtbot.wait(300)
    window.design_document.set_layer_field(0, "out_channels", 48)
    assert autosaver.timer.isActive() and autosaver.timer.remainingTime() > 100  # a full interval from the edit
    assert not autosaver.design_file.exists()
    qtbot.waitUntil(autosaver.design_file.is_file, timeout=3000)
    assert load_design(autosaver.design_file).layers[0].out_channels == 48

    window.undo_action.trigger()  # back to the unmodified design: the autosave goes and the clock stops
    assert not autosaver.design_file.exists()
    qtbot.waitUntil(lambda: not autosaver.timer.isActive(), timeout=3000)
