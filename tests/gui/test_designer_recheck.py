"""What makes an edit cheap does not change what the window shows.

The document rechecks only the layers an edit reaches and keeps each undo
step's reports, so undo and redo check nothing again; the summary's values
become selectable only while the mouse is on them. Each test checks that the
result is what the plain way gives: the report of a full check, and labels a
person can select with the mouse.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QEnterEvent
from PySide6.QtWidgets import QApplication

from convstudio.core import editing
from convstudio.core.presets import load_preset
from convstudio.core.shapes import infer_shapes


def test_the_report_after_edits_undo_and_redo_is_a_full_checks(make_window):
    window = make_window(load_preset("cifar10"))
    document = window.design_document
    edits = (
        lambda: document.insert_kind(3, "dropout"),
        lambda: document.set_layer_field(0, "out_channels", 48),
        lambda: document.move_layer(4, 1),
        lambda: document.remove_layer(2),
        lambda: document.set_layer_field(0, "kernel_size", 99),  # fails: every later layer is affected
        lambda: document.duplicate_layer(5),
        lambda: document.set_input_field("height", 64),
        lambda: document.insert_layer(0, editing.new_layer("batchnorm")),
    )
    for edit in edits:
        assert edit() is None
        assert document.report == infer_shapes(document.design)
    stack = document.undo_stack
    while stack.canUndo():
        stack.undo()
        assert document.report == infer_shapes(document.design)
    while stack.canRedo():
        stack.redo()
        assert document.report == infer_shapes(document.design)
    # Undo and redo show the very reports found when the steps were made: nothing is checked again.
    stack.undo()
    before = document.report
    stack.redo()
    stack.undo()
    assert document.report is before


def test_summary_values_are_selectable_with_the_mouse_on_them(make_window):
    window = make_window()
    value = window.summary.values["params"]
    selectable = Qt.TextInteractionFlag.TextSelectableByMouse
    assert not value.textInteractionFlags() & selectable
    QApplication.sendEvent(value, QEnterEvent(QPointF(2, 2), QPointF(2, 2), QPointF(2, 2)))
    assert value.textInteractionFlags() & selectable
    value.setSelection(0, 3)  # what a drag over the text does
    QApplication.sendEvent(value, QEvent(QEvent.Type.Leave))
    assert value.hasSelectedText() and value.selectedText() == value.text()[:3]
    assert value.textInteractionFlags() & selectable  # the selection stays
    value.setSelection(0, 0)
    QApplication.sendEvent(value, QEvent(QEvent.Type.Leave))
    assert not value.textInteractionFlags() & selectable
