"""Blocks in the designer: built by drag and drop, broken, explained, fixed, wrapped, nested, undone.

Drops are real ``QDragEnterEvent``/``QDragMoveEvent``/``QDropEvent`` sent to the
stack's viewport at a row's ``visualRect``, so the view's own mapping from the
drop position to a row (above, below, or onto a part header) is exercised as
a person's drop exercises it.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QPoint, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from convstudio.core.design import Design, InputSpec
from convstudio.core.layers import BatchNorm, Concat, Conv2d, Residual
from convstudio.core.shapes import infer_shapes
from convstudio.gui.designer.layer_table_model import OUTPUT_COLUMN
from convstudio.gui.designer.stack_rows import LAYER, MERGE, PART


def stem_design() -> Design:
    return Design(name="blocks", input=InputSpec(channels=3, height=16, width=16),
                  layers=[Conv2d(out_channels=32, kernel_size=3, padding=1)])


def row_of(window, role, path) -> int:
    row = window.design_document.layout.number_of((role, path))
    assert row is not None, (role, path)
    return row


def drop(window, mime, row: int, where: str) -> None:
    """Drag ``mime`` over the stack and drop it above, onto or below ``row``, with real events."""
    view = window.layer_stack
    rect = view.visualRect(view.stack_model.index(row, 0))
    y = {"above": rect.top() + 1, "on": rect.center().y(), "below": rect.bottom() - 1}[where]
    position = QPoint(rect.left() + 40, y)
    actions = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction
    viewport = view.viewport()
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(position, actions, mime, buttons, modifiers)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(position, actions, mime, buttons, modifiers)
    QApplication.sendEvent(viewport, move)
    assert move.isAccepted()
    QApplication.sendEvent(viewport, QDropEvent(position.toPointF(), actions, mime, buttons, modifiers))


def palette_mime(window, kind):
    palette = window.palette_panel
    return palette.proxy.mimeData([palette.proxy.mapFromSource(palette.model.index_of_kind(kind))])


def kinds(layers):
    return [layer.kind for layer in layers]


def output_text(window, row):
    model = window.layer_stack.stack_model
    return model.data(model.index(row, OUTPUT_COLUMN))


def build_basic_block(window) -> None:
    """A ResNet basic block after the stem, by drag and drop from the palette into the block's body."""
    drop(window, palette_mime(window, "residual"), 1, "below")  # after the stem conv
    assert kinds(window.design_document.design.layers) == ["conv2d", "residual"]
    drop(window, palette_mime(window, "conv2d"), row_of(window, PART, (1, "body")), "on")
    for kind in ("batchnorm", "activation", "conv2d", "batchnorm"):
        # Just above the shortcut's header: the end of the body.
        drop(window, palette_mime(window, kind), row_of(window, PART, (1, "shortcut")), "above")


def test_a_residual_block_built_by_drag_and_drop_is_explained_when_broken_and_fixed(make_window):
    window = make_window(stem_design())
    document = window.design_document
    build_basic_block(window)
    block = document.design.layers[1]
    assert kinds(block.body) == ["conv2d", "batchnorm", "activation", "conv2d", "batchnorm"]
    assert block.shortcut == [] and document.report.valid
    assert document.undo_stack.count() == 6  # every drop one undo step
    merge_row = row_of(window, MERGE, (1,))
    model = window.layer_stack.stack_model
    assert model.data(model.index(merge_row, 1)) == "body 32x16x16 + shortcut (identity) 32x16x16"

    # Break it: the body's first convolution gets stride 2, through the inspector.
    window.layer_stack.select_row(row_of(window, LAYER, (1, "body", 0)))
    assert window.inspector.title.text().startswith("<b>res1.body.conv1</b>")
    window.inspector.editors["stride"].single.setValue(2)
    assert document.design.layers[1].body[0].stride == 2
    assert not document.report.valid
    assert output_text(window, row_of(window, LAYER, (1, "body", 0))) == "32x8x8"
    assert output_text(window, merge_row).endswith("✖")

    # The merge row's inspector explains the sum and offers the fix.
    window.layer_stack.select_row(merge_row)
    inspector = window.inspector
    assert inspector.block_box.isVisible() and not inspector.problem_box.isHidden()
    assert "body 32x8x8 + shortcut (identity) 32x16x16" in inspector.merge.text()
    assert "body gives 32x8x8, the identity shortcut gives 32x16x16" in inspector.problem.text()
    assert inspector.problem.text().count("layer 2 (residual)") == 1
    fix_button = inspector.fix_buttons[0]
    assert "1x1 convolution with stride 2" in " ".join(fix_button.text().split())
    fix_button.click()
    shortcut = document.design.layers[1].shortcut
    assert kinds(shortcut) == ["conv2d", "batchnorm"] and shortcut[0].stride == 2
    assert document.report.valid and document.report == infer_shapes(document.design)
    assert output_text(window, row_of(window, LAYER, (1, "shortcut", 0))) == "32x8x8"

    window.undo_action.trigger()
    assert document.design.layers[1].shortcut == [] and not document.report.valid
    window.redo_action.trigger()
    assert kinds(document.design.layers[1].shortcut) == ["conv2d", "batchnorm"] and document.report.valid
    for _ in range(8):
        window.undo_action.trigger()
    assert document.design == stem_design() and not window.isWindowModified()


def test_layers_move_into_out_of_and_within_a_block_by_drag_and_keyboard(make_window, qtbot):
    design = stem_design().model_copy(update={"layers": [
        Conv2d(out_channels=32, kernel_size=3, padding=1), BatchNorm(),
        Residual(body=[Conv2d(out_channels=32, kernel_size=3, padding=1), BatchNorm()]),
    ]})
    window = make_window(design)
    document = window.design_document
    model = window.layer_stack.stack_model
    # The top-level batch norm into the block's body, onto its header: the body's first place.
    mime = model.mimeData([model.index(row_of(window, LAYER, (1,)), 0)])
    drop(window, mime, row_of(window, PART, (2, "body")), "on")
    layers = document.design.layers
    assert kinds(layers) == ["conv2d", "residual"] and kinds(layers[1].body) == ["batchnorm", "conv2d", "batchnorm"]
    # And the body's last layer out again, below the block's merge row: after the block.
    mime = model.mimeData([model.index(row_of(window, LAYER, (1, "body", 2)), 0)])
    drop(window, mime, row_of(window, MERGE, (1,)), "below")
    layers = document.design.layers
    assert kinds(layers) == ["conv2d", "residual", "batchnorm"] and kinds(layers[1].body) == ["batchnorm", "conv2d"]

    # Keyboard editing inside the body: move down, duplicate, delete, all undoable.
    view = window.layer_stack
    window.activateWindow()
    view.setFocus()
    qtbot.waitUntil(view.hasFocus)
    view.select_row(row_of(window, LAYER, (1, "body", 0)))
    qtbot.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert kinds(document.design.layers[1].body) == ["conv2d", "batchnorm"]
    assert document.selected_path == (1, "body", 1)
    qtbot.keyClick(view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert kinds(document.design.layers[1].body) == ["conv2d", "batchnorm", "batchnorm"]
    assert document.selected_path == (1, "body", 2)
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert kinds(document.design.layers[1].body) == ["conv2d"]
    qtbot.keyClick(view, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)  # out of the block, after it
    assert kinds(document.design.layers) == ["conv2d", "residual", "conv2d", "batchnorm"]
    assert document.selected_path == (2,)
    for _ in range(5):
        window.undo_action.trigger()
    assert kinds(document.design.layers[1].body) == ["batchnorm", "conv2d"]
    assert document.report == infer_shapes(document.design)

    # A block cannot go into itself: nothing changes, and the drop says why.
    before = document.design
    mime = model.mimeData([model.index(row_of(window, LAYER, (1,)), 0)])
    drop(window, mime, row_of(window, PART, (1, "shortcut")), "on")
    assert document.design is before and "into itself" in model.last_drop_error

    # A whole block dragged above the stem.
    mime = model.mimeData([model.index(row_of(window, LAYER, (1,)), 0)])
    drop(window, mime, row_of(window, LAYER, (0,)), "above")
    assert kinds(document.design.layers) == ["residual", "conv2d", "batchnorm"]


def test_wrap_the_selection_in_a_residual_block_and_unwrap_it(make_window):
    design = stem_design().model_copy(update={"layers": [
        Conv2d(out_channels=32, kernel_size=3, padding=1), Conv2d(out_channels=32, kernel_size=3, padding=1),
        BatchNorm(), Conv2d(out_channels=10, kernel_size=1),
    ]})
    window = make_window(design)
    document = window.design_document
    view = window.layer_stack
    model = view.stack_model
    view.select_row(2)
    view.selectionModel().select(QItemSelection(model.index(2, 0), model.index(3, 0)),
                                 QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    wrap = window.findChild(type(window.undo_action), "actionWrapResidual")
    assert wrap.isEnabled()
    wrap.trigger()
    layers = document.design.layers
    assert kinds(layers) == ["conv2d", "residual", "conv2d"]
    assert layers[1].body[0] is design.layers[1] and layers[1].body[1] is design.layers[2]  # moved, not copied
    assert document.selected_path == (1,)
    unwrap = window.findChild(type(window.undo_action), "actionUnwrapBlock")
    assert unwrap.isEnabled()
    unwrap.trigger()
    assert document.design.layers == design.layers
    window.undo_action.trigger()
    assert kinds(document.design.layers) == ["conv2d", "residual", "conv2d"]
    window.undo_action.trigger()
    assert document.design == design


def test_nested_blocks_a_residual_inside_a_concat_branch(make_window, qtbot):
    window = make_window(stem_design())
    document = window.design_document
    drop(window, palette_mime(window, "concat"), 1, "below")
    drop(window, palette_mime(window, "residual"), row_of(window, PART, (1, "branches.1")), "on")
    drop(window, palette_mime(window, "conv2d"), row_of(window, PART, (1, "branches.1", 0, "body")), "on")
    drop(window, palette_mime(window, "conv2d"), row_of(window, MERGE, (1,)), "above")  # the last branch's end
    drop(window, palette_mime(window, "maxpool2d"), row_of(window, PART, (1, "branches.0")), "on")
    concat = document.design.layers[1]
    assert kinds(concat.branches[0]) == ["maxpool2d"] and kinds(concat.branches[1]) == ["residual", "conv2d"]
    assert kinds(concat.branches[1][0].body) == ["conv2d"]
    # Branch 1 halves the size, branch 2 keeps it: the join is impossible, and says which branch.
    report = document.report
    assert not report.valid and "branch" in report.first_error()
    assert report.first_error().startswith("layer 2 (concat)")
    merge_row = row_of(window, MERGE, (1,))
    assert output_text(window, merge_row).endswith("✖")
    window.layer_stack.select_row(merge_row)
    assert window.inspector.fix_buttons, "the join offers a fix"
    assert "stride 2" in " ".join(window.inspector.fix_buttons[0].text().split())
    window.inspector.fix_buttons[0].click()
    assert document.report.valid, document.report.first_error()
    assert document.design.layers[1].branches[1][1].stride == 2  # the fix reached into the branch
    assert document.report == infer_shapes(document.design)

    # A third branch from the inspector, collapse and expand from the keyboard.
    assert document.selected_path == (1, "branches.1", 1)  # the fixed layer
    window.layer_stack.select_row(row_of(window, LAYER, (1,)))
    assert window.inspector.add_branch_button.isVisible()
    window.inspector.add_branch_button.click()
    assert len(document.design.layers[1].branches) == 3
    view = window.layer_stack
    window.activateWindow()
    view.setFocus()
    qtbot.waitUntil(view.hasFocus)
    view.select_row(row_of(window, LAYER, (1,)))
    rows = view.stack_model.rowCount()
    qtbot.keyClick(view, Qt.Key.Key_Left)
    assert document.is_collapsed((1,)) and view.stack_model.rowCount() == 3
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert not document.is_collapsed((1,)) and view.stack_model.rowCount() == rows
    for _ in range(7):
        window.undo_action.trigger()
    assert document.design == stem_design()


def test_the_diagram_draws_skip_arcs_and_branches_and_exports(make_window, tmp_path):
    design = stem_design().model_copy(update={"layers": [
        Conv2d(out_channels=32, kernel_size=3, padding=1),
        Residual(body=[Conv2d(out_channels=32, kernel_size=3, padding=1), BatchNorm()]),
        Concat(branches=[[Conv2d(out_channels=8, kernel_size=1)], [Residual(body=[BatchNorm()])], []]),
    ]})
    window = make_window(design)
    diagram = window.diagram
    links = diagram._blocks.links
    arcs = [link for link in links if link.kind == "arc"]
    assert len(arcs) == 2 and {link.label for link in arcs} == {"identity"}
    assert diagram._blocks.bands == 3  # a lane per branch
    outputs = [volume for volume in diagram.volumes if volume.category == "merge"]
    assert [volume.title for volume in outputs] == ["res1", "res1", "concat1"]
    assert outputs[0].extras[:2] == ["body 32x16x16", "+ shortcut (identity) 32x16x16"]
    assert diagram.export_png(tmp_path / "blocks.png") and diagram.export_svg(tmp_path / "blocks.svg")
    assert "<path" in (tmp_path / "blocks.svg").read_text()


def test_a_collapsed_block_is_its_output_in_the_diagram_and_blocks_edit_from_menu_and_inspector(make_window):
    design = stem_design().model_copy(update={"layers": [
        Conv2d(out_channels=32, kernel_size=3, padding=1),
        Residual(body=[Conv2d(out_channels=32, kernel_size=3, padding=1), BatchNorm()]),
    ]})
    window = make_window(design)
    document, diagram = window.design_document, window.diagram
    assert [volume.title for volume in diagram.volumes] == ["input", "conv1", "conv1", "res1"]
    document.set_collapsed((1,), True)
    assert [volume.title for volume in diagram.volumes] == ["input", "conv1", "res1"]
    assert not diagram._blocks.links  # no body to arc over
    document.set_collapsed((1,), False)
    assert len(diagram._blocks.links) == 1
    assert document.undo_stack.count() == 0  # collapsing is view state

    edit_menu = next(action.menu() for action in window.menuBar().actions() if action.text() == "&Edit")
    names = [action.objectName() for action in edit_menu.actions()]
    assert "actionWrapResidual" in names and "actionUnwrapBlock" in names
    # The inspector edits the block's own settings, not its stacks; each change is one undo step.
    window.layer_stack.select_row(row_of(window, LAYER, (1,)))
    editors = window.inspector.editors
    assert "activation" in editors and "body" not in editors and "shortcut" not in editors
    editors["activation"].setCurrentText("none")
    assert document.design.layers[1].activation == "none"
    assert document.design.layers[1].body == design.layers[1].body
    assert "then" not in window.layer_stack.stack_model.data(
        window.layer_stack.stack_model.index(row_of(window, MERGE, (1,)), 0))
    window.undo_action.trigger()
    assert document.design == design


def test_random_edits_in_blocks_keep_rows_reports_and_undo_in_step(make_window):
    """Seeded random edits inside and around blocks: rows, texts and reports always match a fresh look."""
    import random

    from convstudio.core.layer_paths import walk
    from convstudio.gui.designer.block_row_text import block_row_view
    from convstudio.gui.designer.stack_rows import StackLayout

    start = stem_design().model_copy(update={"layers": [
        Conv2d(out_channels=32, kernel_size=3, padding=1),
        Residual(body=[Conv2d(out_channels=32, kernel_size=3, padding=1), BatchNorm()]),
        Concat(branches=[[BatchNorm()], [Residual(body=[BatchNorm()])]]),
        BatchNorm(),
    ]})
    window = make_window(start)
    document, model = window.design_document, window.layer_stack.stack_model
    chance = random.Random(11)
    kinds_to_add = ("batchnorm", "conv2d", "residual", "concat", "activation")
    for _step in range(40):
        paths = [path for path, _layer in walk(document.design.layers)]
        path = chance.choice(paths)
        stack_path, index = path[:-1], path[-1]
        action = chance.randrange(7)
        if action == 0:
            document.insert_kind_at((*stack_path, index), chance.choice(kinds_to_add))
        elif action == 1 and len(paths) > 3:
            document.remove_at(path)
        elif action == 2:
            document.move_to(path, chance.choice(paths))
        elif action == 3:
            document.duplicate_at(path)
        elif action == 4:
            document.set_collapsed(chance.choice(paths), chance.random() < 0.5)
        elif action == 5:
            document.undo_stack.undo()
        else:
            document.wrap_in_residual(path, 1)
        layout = document.layout
        assert document.report == infer_shapes(document.design)
        assert model.rowCount() == len(layout) == len(StackLayout(document.design, document.collapsed))
        for row in range(1, len(layout)):
            fresh = block_row_view(document, layout.row(row), 5, "") if not layout.flat else None
            if fresh is not None:
                assert model.row_view(row)[0][:4] == fresh[0][:4], (row, layout.row(row))
    while document.undo_stack.canUndo():
        document.undo_stack.undo()
    assert document.design == start and model.rowCount() == len(document.layout)
