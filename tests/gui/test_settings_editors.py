"""The Training dock's settings form is generated from the settings' fields: every field, and only those.

Each editor, driven as a person would, changes its own field in the design's
training section as one undoable step. ``freeze`` picks layers of the open design;
``sync_batchnorm`` shows for designs with batch norm.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractSpinBox, QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox, QWidget

from convstudio.core.data.augment import AugmentationSettings
from convstudio.core.presets import load_preset
from convstudio.core.training.design_settings import settings_of
from convstudio.core.training.settings import TrainingSettings
from convstudio.gui.forms.field_specs import value_at
from convstudio.gui.forms.name_editors import NameChoiceEditor, NameListEditor
from convstudio.gui.training.dataset_chooser import DatasetChooser

# shapes_small's layers that hold parameters, in order.
WEIGHTED_LAYERS = ["conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "fc1"]


def test_every_training_setting_has_exactly_one_editor(panel_window):
    form = panel_window().train_panel.form
    fields = {name for name in TrainingSettings.model_fields if name != "augmentation"}
    fields |= {f"augmentation.{name}" for name in AugmentationSettings.model_fields}
    assert set(form.editors) == fields
    assert {"freeze", "sync_batchnorm"} <= set(form.editors)
    for key, editor in form.editors.items():  # each in its labelled row of its section
        layout, row_editor = form.rows[key]
        assert row_editor is editor and layout.labelForField(editor).text() == form.form.fields[key].label
    assert form.groups["Augmentation"].isAncestorOf(form.editors["augmentation.flip"])
    assert form.groups["Transfer learning"].isAncestorOf(form.editors["freeze"])
    assert form.groups["Device"].isAncestorOf(form.editors["sync_batchnorm"])


def _edit_as_a_person_would(editor):
    """Change ``editor`` to another valid value through its widgets; returns the value it now shows."""
    if isinstance(editor, DatasetChooser):
        index = editor.combo.findData("mnist")
        editor.combo.setCurrentIndex(index)
        editor.combo.activated.emit(index)
        return "mnist"
    if isinstance(editor, NameListEditor):
        editor.menu.aboutToShow.emit()
        editor.menu.actions()[1].trigger()  # ticks the second layer offered
        return editor.current()
    if isinstance(editor, QComboBox):
        items = editor.model()
        index = next(i for i in range(editor.count()) if i != editor.currentIndex()
                     and items.flags(items.index(i, 0)) & Qt.ItemFlag.ItemIsEnabled)
        editor.setCurrentIndex(index)
        editor.activated.emit(index)
        return editor.current()
    if isinstance(editor, QCheckBox):
        editor.click()
        return editor.current()
    if isinstance(editor, QDoubleSpinBox):
        editor.setValue((editor.minimum() + editor.maximum()) / 2)
        return editor.current()
    if isinstance(editor, QSpinBox):
        editor.setValue(editor.value() + 1 if editor.value() < editor.maximum() else editor.value() - 1)
        return editor.current()
    if isinstance(editor, QLineEdit):
        editor.setText("runs/an earlier run")
        editor.editingFinished.emit()
        return editor.current()
    raise AssertionError(f"no way to drive {type(editor).__name__}")


def test_each_editor_changes_its_field_in_the_design_as_one_undoable_step(panel_window):
    window = panel_window()
    form = window.train_panel.form
    document = window.design_document
    stack = document.undo_stack
    for key, editor in form.editors.items():
        before = value_at(settings_of(document.design)[0].model_dump(), key)
        steps = stack.count()
        shown = _edit_as_a_person_would(editor)
        assert shown != before, key
        assert value_at(document.design.training, key) == shown, key  # saved in the design's training section
        assert value_at(settings_of(document.design)[0].model_dump(), key) == shown, key
        assert stack.count() == steps + 1 and stack.undoText().startswith("Set training "), key
        stack.undo()
        assert value_at(settings_of(document.design)[0].model_dump(), key) == before, key
        assert editor.current() == before, key  # the view follows the model
        stack.redo()
        assert editor.current() == shown, key


def test_freeze_picks_layers_of_the_open_design(panel_window):
    window = panel_window()
    form = window.train_panel.form
    document = window.design_document
    freeze = form.editors["freeze"]
    assert isinstance(freeze, NameListEditor)
    freeze.menu.aboutToShow.emit()  # the menu is filled as it opens
    assert [action.text() for action in freeze.menu.actions()] == WEIGHTED_LAYERS
    assert not form.is_shown("freeze") and not form.is_shown("unfreeze_at_epoch")
    form.set_setting("init_from", "runs/source")  # transfer learning: freezing matters
    assert form.is_shown("freeze") and form.is_shown("freeze_through") and not form.is_shown("unfreeze_at_epoch")

    freeze.line.setText("conv2, conv1 conv2")
    freeze.line.editingFinished.emit()
    assert document.design.training["freeze"] == ["conv2", "conv1"]
    assert form.is_shown("unfreeze_at_epoch")
    freeze.menu.aboutToShow.emit()
    assert [action.text() for action in freeze.menu.actions() if action.isChecked()] == ["conv1", "conv2"]

    freeze.line.setText("conv1, nope")  # not a layer of this design: refused, and said why
    freeze.line.editingFinished.emit()
    assert document.design.training["freeze"] == ["conv2", "conv1"]
    assert "nope" in form.problem.text() and not form.problem.isHidden()
    assert freeze.line.text() == "conv2, conv1"

    through = form.editors["freeze_through"]
    assert isinstance(through, NameChoiceEditor) and through.itemText(0) == "none"
    assert [through.itemData(i) for i in range(1, through.count())] == [
        layer.name for layer in document.report.layers]
    document.insert_kind(len(document.design.layers), "linear")  # the offer follows the design
    freeze.menu.aboutToShow.emit()
    assert freeze.menu.actions()[-1].text() == document.report.layers[-1].name == through.itemData(through.count() - 1)


def test_sync_batchnorm_shows_only_where_the_design_has_batch_norm(panel_window):
    window = panel_window()
    form = window.train_panel.form
    assert form.is_shown("sync_batchnorm")
    form.editors["sync_batchnorm"].click()
    assert window.design_document.design.training["sync_batchnorm"] is True

    design = load_preset("shapes_small")
    plain = design.model_copy(update={"layers": [layer for layer in design.layers if layer.kind != "batchnorm"]})
    assert not panel_window(plain).train_panel.form.is_shown("sync_batchnorm")


def test_editors_take_ranges_and_tooltips_from_the_fields(panel_window):
    form = panel_window().train_panel.form
    for key, editor in form.editors.items():
        spec = form.form.fields[key].spec
        if isinstance(editor, QAbstractSpinBox) and spec.maximum is not None:
            assert editor.maximum() <= spec.maximum, key
        tips = [editor.toolTip()] + [child.toolTip() for child in editor.findChildren(QWidget)]
        assert any(spec.description in tip for tip in tips), key


def test_freeze_offers_a_whole_block_and_the_layers_inside_it(panel_window):
    """With blocks, the freeze list names them as the builder's modules: res1, res1.body.conv1."""
    window = panel_window()
    form = window.train_panel.form
    document = window.design_document
    document.replace_design("Load preset", load_preset("resnet20"))
    freeze = form.editors["freeze"]
    freeze.menu.aboutToShow.emit()
    offered = [action.text() for action in freeze.menu.actions()]
    assert offered[:5] == ["conv1", "bn1", "res1", "res1.body.conv1", "res1.body.bn1"]
    assert "res4.shortcut.conv1" in offered and "res1.body.act1" not in offered  # no parameters
    form.set_setting("init_from", "runs/source")
    freeze.line.setText("res1, res2.body.conv1")
    freeze.line.editingFinished.emit()
    assert document.design.training["freeze"] == ["res1", "res2.body.conv1"]
