"""The document says what changed, and the views update exactly that.

Each test records the document's granular events and the stack model's row
signals for one edit (and its undo), and checks that they name the rows the
edit touched and nothing else: no model reset, no whole-table dataChanged,
no undo step for a selection.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from convstudio.core.design import Design, InputSpec
from convstudio.core.layers import Activation, BatchNorm, Conv2d, Linear
from convstudio.gui.designer.changes import (
    InputChanged, Inserted, LayerChanged, Moved, Removed, Replaced, follow, invert, old_positions,
)
from convstudio.gui.designer.document import DesignDocument


class Recorder:
    """Every event of a document and every row signal of a model, in order, as tuples."""

    def __init__(self, document: DesignDocument, model=None):
        self.events: list[tuple] = []
        self.rows: list[tuple] = []
        events = document.events
        for name in ("inserted", "removed", "moved", "layer_changed", "input_changed", "settings_changed",
                     "replaced", "rechecked", "selection"):
            getattr(events, name).connect(lambda *args, name=name: self.events.append((name, *args)))
        if model is not None:
            model.rowsInserted.connect(lambda _parent, first, last: self.rows.append(("rowsInserted", first, last)))
            model.rowsRemoved.connect(lambda _parent, first, last: self.rows.append(("rowsRemoved", first, last)))
            model.rowsMoved.connect(lambda _p, first, last, _d, row: self.rows.append(("rowsMoved", first, last, row)))
            model.modelReset.connect(lambda: self.rows.append(("modelReset",)))
            model.layoutChanged.connect(lambda *_: self.rows.append(("layoutChanged",)))
            model.dataChanged.connect(
                lambda top, bottom, _roles=(): self.rows.append(("dataChanged", top.row(), bottom.row())))

    def names(self) -> list[str]:
        return [event[0] for event in self.events]

    def clear(self) -> None:
        self.events.clear()
        self.rows.clear()


def long_design(count: int = 60) -> Design:
    layers = [Conv2d(out_channels=16, kernel_size=3, padding=1), BatchNorm(), Activation()] * (count // 3)
    return Design(input=InputSpec(channels=3, height=32, width=32), layers=layers)


@pytest.fixture
def stack(make_window):
    window = make_window(long_design())
    recorder = Recorder(window.design_document, window.layer_stack.stack_model)
    return window, window.design_document, recorder


def test_inserting_a_layer_emits_inserted_and_the_model_inserts_exactly_that_row(stack):
    window, document, recorder = stack
    assert document.insert_kind(10, "dropout") is None
    assert recorder.events[0] == ("inserted", 10, 1)
    assert recorder.names() == ["inserted", "rechecked", "selection"]
    assert recorder.events[-1] == ("selection", 11)  # the new layer is selected
    assert recorder.rows[0] == ("rowsInserted", 11, 11)  # stack row = layer + 1
    assert all(row[0] == "dataChanged" for row in recorder.rows[1:])  # no reset, no second insert
    changed = {event for event in recorder.events if event[0] == "rechecked"}.pop()[1]
    assert 10 in changed and 9 not in changed  # the rows above are left alone
    assert window.layer_stack.stack_model.rowCount() == len(document.design.layers) + 1


def test_undo_emits_removed_and_redo_inserted_again(stack):
    window, document, recorder = stack
    document.insert_kind(10, "dropout")
    recorder.clear()
    document.undo_stack.undo()
    assert recorder.events[0] == ("removed", 10, 1)
    assert recorder.rows[0] == ("rowsRemoved", 11, 11)
    assert ("modelReset",) not in recorder.rows
    recorder.clear()
    document.undo_stack.redo()
    assert recorder.events[0] == ("inserted", 10, 1)
    assert recorder.rows[0] == ("rowsInserted", 11, 11)


def test_changing_a_field_emits_changed_for_that_layer_only(stack):
    window, document, recorder = stack
    assert document.set_layer_field(57, "out_channels", 24) is None  # conv20, then its bn and relu
    assert recorder.events[0] == ("layer_changed", 57, ("out_channels",))
    assert recorder.names().count("layer_changed") == 1
    rechecked = next(event[1] for event in recorder.events if event[0] == "rechecked")
    assert set(rechecked) == {57, 58, 59}  # the layer and the two that pass its 24 channels on
    rows = [row for row in recorder.rows if row[0] == "dataChanged"]
    assert rows == [("dataChanged", 58, 60)]
    assert not any(row[0] in ("rowsInserted", "rowsRemoved", "modelReset", "layoutChanged") for row in recorder.rows)
    recorder.clear()
    document.undo_stack.undo()
    assert recorder.events[0] == ("layer_changed", 57, ("out_channels",))


def test_moving_a_layer_emits_moved_and_the_model_moves_one_row(stack):
    window, document, recorder = stack
    assert document.move_layer(4, 1) is None
    assert recorder.events[0] == ("moved", 4, 1)
    assert recorder.rows[0] == ("rowsMoved", 5, 5, 2)  # row 5 now lands before old row 2
    recorder.clear()
    document.undo_stack.undo()
    assert recorder.events[0] == ("moved", 1, 4)
    assert recorder.rows[0] == ("rowsMoved", 2, 2, 6)  # moving down: before old row 6


def test_selecting_a_row_is_view_state_not_an_undo_step(stack):
    window, document, recorder = stack
    document.set_layer_field(0, "out_channels", 8)
    steps = document.undo_stack.count()
    window.layer_stack.select_row(7)
    assert recorder.events[-1] == ("selection", 7)
    assert document.selected_row == 7 and window.inspector._row == 7
    window.layer_stack.select_row(3)
    document.select(5)
    assert window.layer_stack.selected_row() == 5 and window.inspector._row == 5
    assert document.undo_stack.count() == steps
    # Undo does not bring back the selection of before: it shows the layer it changed.
    document.undo_stack.undo()
    assert document.selected_row == 1 and window.layer_stack.selected_row() == 1


def test_a_fix_that_inserts_a_layer_keeps_the_fixed_layer_selected_through_undo(make_window):
    window = make_window(Design(input=InputSpec(channels=1, height=8, width=8),
                                layers=[Conv2d(out_channels=4, kernel_size=3), Linear(out_features=10)]))
    document = window.design_document
    recorder = Recorder(document, window.layer_stack.stack_model)
    fix = next(fix for fix in document.report.layers[1].problem.fixes if fix.insert_before)
    document.apply_fix(1, fix)
    assert recorder.events[:2] == [("layer_changed", 1, ()), ("inserted", 1, 1)]
    assert recorder.rows[0] == ("rowsInserted", 2, 2)
    assert document.selected_row == 3  # the linear layer, now after the inserted flatten
    recorder.clear()
    document.undo_stack.undo()
    assert recorder.events[:2] == [("removed", 1, 1), ("layer_changed", 1, ())]
    assert document.selected_row == 2


def test_input_settings_and_whole_designs(stack):
    window, document, recorder = stack
    document.set_input_field("height", 16)
    assert recorder.events[0] == ("input_changed", ("height",))
    assert ("dataChanged", 0, 0) in recorder.rows
    recorder.clear()
    from convstudio.gui.training.settings_form import with_training
    from convstudio.core.training.settings import TrainingSettings

    document.push_edit("Set training epochs", with_training, TrainingSettings(epochs=3))
    assert recorder.events[0] == ("settings_changed", ("training",))
    assert not recorder.rows  # no row of the stack shows the training settings
    recorder.clear()
    document.load_preset("lenet")
    assert recorder.names()[0] == "replaced" and recorder.rows[0] == ("modelReset",)
    assert window.layer_stack.stack_model.rowCount() == len(document.design.layers) + 1


def test_change_records_invert_and_say_which_layer_an_edit_is_about():
    changes = (LayerChanged(3, ("changes",)), Inserted(3))
    assert invert(changes) == (Removed(3), LayerChanged(3, ("changes",)))
    assert invert((Moved(1, 4),)) == (Moved(4, 1),)
    assert follow(changes, 10) == 4  # the fixed layer, after the one inserted before it
    assert follow(invert(changes), 9) == 3
    assert follow((Removed(9),), 9) == 8  # the last layer was removed: the new last one
    assert follow((Removed(0),), 0) == -1  # nothing left: the input
    assert follow((InputChanged(("height",)),), 5) == -1
    assert follow((Replaced(),), 3) == 0
    assert old_positions((Inserted(1), Moved(0, 2)), 3, 4) == [None, 1, 0, 2]
    assert old_positions((LayerChanged(1, ("p",)),), 3, 3) == [0, None, 2]


def test_views_are_given_the_document_and_no_window():
    root = Path(__file__).resolve().parents[2] / "gui"
    files = [*sorted((root / "designer").glob("*.py")), root / "training" / "panel.py", root / "lab" / "menu.py"]
    for path in files:
        text = path.read_text(encoding="utf-8")
        for reach in ("window_", "getattr(window", "self.window()", ".parent()."):
            assert reach not in text, f"{path.name} reaches through the window: {reach}"
