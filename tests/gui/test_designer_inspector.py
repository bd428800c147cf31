"""The inspector: editors from the pydantic fields, formulas, one-click fixes, all undoable."""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton

from convstudio.core.design import Design, InputSpec
from convstudio.core.layers import Conv2d, Dropout, Linear
from convstudio.gui.designer.layer_table_model import OUTPUT_COLUMN


def output_text(window, row):
    model = window.layer_stack.stack_model
    return model.data(model.index(row, OUTPUT_COLUMN))


def test_editors_take_ranges_and_tooltips_from_the_fields(window):
    window.layer_stack.select_row(1)  # conv1
    editors = window.inspector.editors
    assert set(editors) >= {"out_channels", "kernel_size", "stride", "padding", "bias", "activation", "name"}
    channels = editors["out_channels"]
    assert (channels.minimum(), channels.maximum()) == (1, 65536)
    assert channels.toolTip() == Conv2d.model_fields["out_channels"].description
    assert editors["padding"].single.minimum() == 0
    assert editors["kernel_size"].single.minimum() == 1
    assert editors["activation"].count() == 7
    window.layer_stack.select_row(5)  # dropout1
    p = window.inspector.editors["p"]
    assert p.maximum() < 1 and p.value() == 0.25
    assert "keep probability" in p.toolTip()
    assert window.inspector.keep_label.text().startswith("0.75")


def test_field_edit_in_the_inspector_changes_the_shapes_below(window):
    document = window.design_document
    original = document.design
    window.layer_stack.select_row(1)  # conv1: 3x32x32 -> 64x33x33 with P = 2
    formula = window.inspector.formula.text()
    assert "eq. (14)" in formula and "floor((32 - 4 + 2*2) / 1) + 1 = 33" in formula
    window.inspector.editors["padding"].single.setValue(0)
    assert document.design.layers[0].padding == 0
    assert output_text(window, 1) == "64x29x29"
    assert output_text(window, 3) == "64x30x30"  # conv2 below follows
    assert output_text(window, 4) == "64x15x15"
    assert "floor((32 - 4 + 2*0) / 1) + 1 = 29" in window.inspector.formula.text()
    assert "eq. (7)" in window.inspector.formula.text()  # s = 1, P = 0: the special case

    window.undo_action.trigger()
    assert document.design == original
    assert window.inspector.editors["padding"].single.value() == 2  # the editor follows undo
    window.redo_action.trigger()
    assert output_text(window, 1) == "64x29x29"


def test_quick_changes_of_one_field_are_one_undo_step(window):
    document = window.design_document
    window.layer_stack.select_row(1)
    spin = window.inspector.editors["out_channels"]
    for value in (65, 66, 67):
        spin.setValue(value)
    assert document.undo_stack.count() == 1
    window.undo_action.trigger()
    assert document.design.layers[0].out_channels == 64


def test_per_axis_kernel_and_pooling_formula(window):
    document = window.design_document
    window.layer_stack.select_row(1)
    kernel = window.inspector.editors["kernel_size"]
    kernel.per_axis.setChecked(True)
    kernel.axes[1].setValue(5)
    assert document.design.layers[0].kernel_size == [4, 5]
    assert output_text(window, 1) == "64x33x32"
    window.layer_stack.select_row(4)  # maxpool1
    text = window.inspector.formula.text()
    assert "eq. (17)" in text and "floor((33 - 2) / 2) + 1 = 16" in text


def test_three_d_layers_show_the_three_d_form(make_window):
    from convstudio.core.presets import load_preset

    window = make_window(load_preset("volume3d"))
    row = next(i for i, layer in enumerate(window.design_document.design.layers, 1) if layer.kind == "conv3d")
    window.layer_stack.select_row(row)
    assert "3-D form (eq. 3–4)" in window.inspector.formula.text()
    assert len(window.inspector.editors["kernel_size"].axes) == 3


def test_input_row_edits_the_input(window):
    document = window.design_document
    window.layer_stack.select_row(0)
    editors = window.inspector.editors
    assert set(editors) == {"channels", "height", "width", "depth"}
    editors["height"].setValue(40)
    assert document.design.input.height == 40
    assert output_text(window, 1) == "64x41x33"
    editors["depth"].set_value(None)
    assert editors["depth"].specialValueText().startswith("none")
    window.undo_action.trigger()
    assert document.design.input.height == 32


def test_refused_value_is_explained_and_changes_nothing(window):
    document = window.design_document
    window.layer_stack.select_row(3)  # conv2
    window.inspector.editors["name"].setText("conv1")  # conv1 is... generated, not taken
    window.inspector.editors["name"].editingFinished.emit()
    assert document.design.layers[2].name == "conv1"
    window.layer_stack.select_row(1)
    before = document.design
    window.inspector.editors["name"].setText("conv1")
    window.inspector.editors["name"].editingFinished.emit()
    assert document.design == before
    assert "reuses the name 'conv1'" in window.inspector.edit_error.text()
    assert not window.inspector.edit_error.isHidden()


def invalid_design():
    return Design(
        input=InputSpec(channels=1, height=8, width=8),
        layers=[Conv2d(out_channels=4, kernel_size=3, padding=1), Linear(out_features=16),
                Dropout(p=0.5), Linear(out_features=10)],
    )


def test_invalid_design_is_marked_and_fixed_with_one_click(make_window):
    window = make_window(invalid_design())
    document = window.design_document
    model = window.layer_stack.stack_model
    assert not document.report.valid
    assert "invalid" in window.windowTitle()
    assert model.row_state(2) == "error" and model.row_state(3) == "affected" and model.row_state(1) == "ok"
    tooltip = model.data(model.index(2, 0), 3)  # ToolTipRole
    assert "needs a flat vector" in tooltip and "Flatten" in tooltip
    assert "layer 2" in model.data(model.index(4, 0), 3)
    assert window.summary.values["status"].text().startswith("1 problem")

    window.layer_stack.select_row(2)
    inspector = window.inspector
    assert inspector.problem_box.isVisibleTo(window)
    assert "needs a flat vector" in inspector.problem.text()
    buttons = inspector.findChildren(QPushButton)
    fix = next(button for button in buttons if "insert a Flatten" in button.text())
    fix.click()
    assert [layer.kind for layer in document.design.layers] == ["conv2d", "flatten", "linear", "dropout", "linear"]
    assert document.report.valid and "valid" in window.windowTitle() and "invalid" not in window.windowTitle()
    assert model.row_state(3) == "ok"
    assert window.layer_stack.selected_row() == 3  # the fixed layer stays selected
    assert not inspector.problem_box.isVisibleTo(window)

    window.undo_action.trigger()
    assert not document.report.valid and model.row_state(2) == "error"
    window.redo_action.trigger()
    assert document.report.valid


def test_kernel_too_large_offers_a_padding_fix(make_window):
    design = Design(input=InputSpec(channels=1, height=4, width=4), layers=[Conv2d(out_channels=2, kernel_size=5)])
    window = make_window(design)
    window.layer_stack.select_row(1)
    texts = [button.text() for button in window.inspector.fix_buttons]
    assert any("padding 2 keeps 4x4" in text for text in texts), texts
    next(b for b in window.inspector.fix_buttons if "padding" in b.text()).click()
    assert window.design_document.design.layers[0].padding == 2
    assert window.design_document.report.layers[0].output_shape == (2, 4, 4)
