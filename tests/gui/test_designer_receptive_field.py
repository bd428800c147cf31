"""The receptive field in the designer: a column of the layer table and a formula in the inspector."""

from __future__ import annotations

from convstudio.gui.designer.layer_table_model import FIELD_COLUMN


def field_text(window, row):
    model = window.layer_stack.stack_model
    return model.data(model.index(row, FIELD_COLUMN))


def test_column_and_inspector_follow_a_kernel_edit_that_keeps_the_shapes(window):
    # The default window shows the CIFAR10 preset: conv1 k4 P2, bn1, conv2 k4 P2, maxpool1 ...
    assert field_text(window, 0) == ""
    assert field_text(window, 1) == "4x4"
    assert field_text(window, 3) == "7x7"
    assert field_text(window, 11) == "34x34  (whole)"
    window.layer_stack.select_row(3)  # conv2
    text = window.inspector.formula.text()
    assert "receptive field 7×7" in text and "r = 4 + (4 - 1)*1 = 7" in text

    # conv1 k4 P2 -> k6 P3 keeps every output shape but widens every field below it.
    window.design_document.set_layer_field(0, "kernel_size", 6)
    window.design_document.set_layer_field(0, "padding", 3)
    assert field_text(window, 1) == "6x6"
    assert field_text(window, 3) == "9x9"
    window.layer_stack.select_row(3)  # an edit selects the layer it changed
    assert "r = 6 + (4 - 1)*1 = 9" in window.inspector.formula.text()
    window.layer_stack.select_row(6)  # conv3
    assert "r = 10 + (4 - 1)*2 = 16" in window.inspector.formula.text()
    window.undo_action.trigger()
    window.undo_action.trigger()
    assert field_text(window, 3) == "7x7"
    window.layer_stack.select_row(6)
    assert "r = 8 + (4 - 1)*2 = 14" in window.inspector.formula.text()
