"""The layer stack and palette: drops and moves through the item models, keyboard actions, undo."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QWidget

from convstudio.gui.designer.layer_table_model import OUTPUT_COLUMN


def output_text(window, row):
    model = window.layer_stack.stack_model
    return model.data(model.index(row, OUTPUT_COLUMN))


def kinds(window):
    return [layer.kind for layer in window.design_document.design.layers]


def test_widgets_and_actions_are_reachable_by_name(window):
    for name in ("palette", "layerStack", "inspector", "shapeSummary", "networkDiagram"):
        assert window.findChild(QWidget, name) is not None, name
    from PySide6.QtGui import QAction

    for name in ("actionNew", "actionOpen", "actionSave", "actionSaveAs", "actionUndo", "actionRedo"):
        assert window.findChild(QAction, name) is not None, name


def test_palette_drop_into_the_middle_updates_every_size_below(window):
    document = window.design_document
    original = document.design
    assert output_text(window, 4) == "64x17x17"  # maxpool1
    palette = window.palette_panel
    # Through the filtered view's model, as a drag from the visible tree does.
    source_index = palette.model.index_of_kind("maxpool2d")
    proxy_index = palette.proxy.mapFromSource(source_index)
    mime = palette.proxy.mimeData([proxy_index])
    stack_model = window.layer_stack.stack_model
    assert stack_model.canDropMimeData(mime, Qt.DropAction.CopyAction, 3, 0, QModelIndex())
    assert stack_model.dropMimeData(mime, Qt.DropAction.CopyAction, 3, 0, QModelIndex())

    assert kinds(window)[2] == "maxpool2d"  # dropped before stack row 3 = layer 3
    assert output_text(window, 3) == "64x16x16"
    assert output_text(window, 4) == "64x17x17"  # conv2 now works on 16x16
    assert output_text(window, 5) == "64x8x8"
    assert window.layer_stack.selected_row() == 3
    assert window.isWindowModified()

    window.undo_action.trigger()
    assert document.design == original
    assert output_text(window, 4) == "64x17x17"
    assert not window.isWindowModified()
    window.redo_action.trigger()
    assert kinds(window)[2] == "maxpool2d"


def test_reorder_by_moving_rows_through_the_model(window):
    document = window.design_document
    original = kinds(window)
    stack_model = window.layer_stack.stack_model
    mime = stack_model.mimeData([stack_model.index(4, 0)])  # maxpool1
    assert stack_model.dropMimeData(mime, Qt.DropAction.MoveAction, 1, 0, QModelIndex())
    assert kinds(window)[0] == "maxpool2d"
    assert output_text(window, 1) == "3x16x16"
    assert len(kinds(window)) == len(original)  # moved, not copied or lost
    window.undo_action.trigger()
    assert kinds(window) == original
    window.redo_action.trigger()
    assert kinds(window)[0] == "maxpool2d"
    # Dropped below its own place: lands where the drop indicator was.
    mime = stack_model.mimeData([stack_model.index(1, 0)])
    stack_model.dropMimeData(mime, Qt.DropAction.MoveAction, 5, 0, QModelIndex())
    assert kinds(window)[3] == "maxpool2d"
    assert document.undo_stack.count() == 2


def test_keyboard_delete_duplicate_and_move(window, qtbot):
    view = window.layer_stack
    view.setFocus()
    view.select_row(2)  # bn1
    before = kinds(window)
    qtbot.keyClick(view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert kinds(window)[:3] == ["conv2d", "batchnorm", "batchnorm"]
    assert view.selected_row() == 3
    qtbot.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert kinds(window)[:6] == ["conv2d", "batchnorm", "conv2d", "maxpool2d", "batchnorm", "dropout"]
    assert view.selected_row() == 5
    qtbot.keyClick(view, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert kinds(window)[2:5] == ["conv2d", "batchnorm", "maxpool2d"]
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert kinds(window) == before
    for _ in range(5):
        window.undo_action.trigger()
    assert kinds(window) == before and not window.isWindowModified()


def test_context_menu_offers_the_layer_actions(window):
    view = window.layer_stack
    assert view.contextMenuPolicy() == Qt.ContextMenuPolicy.ActionsContextMenu
    names = [action.objectName() for action in view.actions()]
    assert names == ["actionRemoveLayer", "actionDuplicateLayer", "actionMoveLayerUp", "actionMoveLayerDown",
                     "actionMoveOutOfBlock", "actionWrapResidual", "actionUnwrapBlock"]
    view.select_row(0)  # the input cannot be removed or moved
    assert not any(action.isEnabled() for action in view.actions())


def test_double_click_or_enter_on_palette_appends_with_defaults(window, qtbot):
    palette = window.palette_panel
    palette.search.setText("conv")
    assert palette.proxy.rowCount() == 1  # only the convolution group is left
    group = palette.proxy.index(0, 0)
    palette.tree.activated.emit(palette.proxy.index(0, 0, group))
    layer = window.design_document.design.layers[-1]
    assert (layer.kind, layer.out_channels, layer.kernel_size, layer.padding) == ("conv2d", 32, 3, 1)
    assert window.layer_stack.selected_row() == len(window.design_document.design.layers)
    palette.search.setText("dropout")
    palette.search.returnPressed.emit()
    assert kinds(window)[-1] == "dropout"
    palette.search.clear()
    tree = palette.tree
    tree.setFocus()
    tree.setCurrentIndex(palette.proxy.mapFromSource(palette.model.index_of_kind("flatten")))
    qtbot.keyClick(tree, Qt.Key.Key_Return)
    assert kinds(window)[-1] == "flatten"


def test_a_200_layer_design_rechecks_on_every_edit(make_window):
    from convstudio.core.design import Design, InputSpec
    from convstudio.core.layers import Activation, BatchNorm, Conv2d

    layers = [Conv2d(out_channels=32, kernel_size=3, padding=1), BatchNorm(), Activation()] * 67
    window = make_window(Design(input=InputSpec(channels=3, height=32, width=32), layers=layers[:200]))
    stack_model = window.layer_stack.stack_model
    assert stack_model.rowCount() == 201
    window.design_document.set_layer_field(198, "out_channels", 48)
    assert output_text(window, 199) == "48x32x32" and output_text(window, 200) == "48x32x32"
    window.design_document.insert_kind(0, "maxpool2d")
    assert output_text(window, 201) == "48x16x16"
