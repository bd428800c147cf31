"""The layer stack view: the centre of the window.

A table over :class:`~convstudio.gui.designer.layer_table_model.LayerStackModel`. Layers can be
dragged to reorder them and kinds dropped from the palette; Delete, Ctrl+D and
Alt+Up/Down (also in the context menu) remove, duplicate and move the selected
layer, within its own stack when it sits in a block; Alt+Left moves it out of
its block. Blocks (residual, concat)
show their parts and inner layers indented beneath them; a click on a block's
triangle, or Left and Right, collapse and expand it; layers and blocks are
dragged into and out of a block's parts. Ctrl+G wraps the selected rows (one
stack, contiguous) in a residual block and Ctrl+Shift+G unwraps a block. The selected row is the document's (view state shared by every view,
never an undo step): a click selects it there, and the view shows what the
document selects, e.g. the layer an edit or its undo was about.

An edit on a long design repaints every visible row, both headers and the
scroll bar; the view paints its rows a row at a time, and its headers
(:mod:`~convstudio.gui.designer.stack_headers`) and scroll bar
(:mod:`~convstudio.gui.designer.stack_scroll_bar`) copy what the style drew
once, with Qt's pixels (``tests/gui/test_designer_stack_painting.py``).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QRect, Qt
from PySide6.QtGui import QAction, QKeySequence, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView, QHeaderView, QStyle, QStyleOptionFocusRect, QStyleOptionViewItem, QTableView, QToolTip,
)

from convstudio.core.layer_paths import layer_at, parent_of, stack_at
from convstudio.core.layers import BLOCK_KINDS
from convstudio.gui.designer.block_row_text import EXPANDED, INDENT
from convstudio.gui.designer.document import INPUT_ROW, DesignDocument
from convstudio.gui.designer.layer_delegate import LayerRowDelegate
from convstudio.gui.designer.layer_table_model import LayerStackModel
from convstudio.gui.designer.stack_headers import ColumnTitles, RowNumbers
from convstudio.gui.designer.stack_rows import LAYER
from convstudio.gui.designer.stack_scroll_bar import StackScrollBar


_SELECT_ROW = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows


class LayerStackView(QTableView):
    """The input and layers with their settings and output sizes; the current row is the document's selection."""

    def __init__(self, document: DesignDocument, parent=None):
        super().__init__(parent)
        self.setObjectName("layerStack")
        self.document = document
        self.stack_model = LayerStackModel(document, self)
        self.setModel(self.stack_model)
        self.row_delegate = LayerRowDelegate(self.stack_model, self)
        self.setItemDelegate(self.row_delegate)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        # Shift+click extends the selection over neighbouring rows: what "wrap in a residual block" takes.
        self.setSelectionMode(QAbstractItemView.SelectionMode.ContiguousSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setDragDropOverwriteMode(False)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setAccessibleName("Layer stack")
        self.setHorizontalHeader(ColumnTitles(self))
        self.setVerticalHeader(RowNumbers(self))
        self.setVerticalScrollBar(StackScrollBar(Qt.Orientation.Vertical, self))
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        # Widths from sample texts, not ResizeToContents: that measures every row on every edit.
        metrics = self.fontMetrics()
        for column, sample in ((0, "maxpool12  (MaxPool2d)"), (2, "512x128x128  ✖"), (3, "12,345,678"),
                               (4, "Receptive field")):
            self.setColumnWidth(column, metrics.horizontalAdvance(sample) + 24)
        self._make_actions()
        self.selectionModel().currentRowChanged.connect(self._on_current_row_changed)
        self.selectionModel().selectionChanged.connect(self._on_selection_changed)  # wrap takes the rows
        # Rows inserted or removed: lay the rows out now, not on Qt's zero timer, so that the
        # repaint they need joins the one of the changed rows in a single frame.
        self.stack_model.rowsInserted.connect(self._lay_out_rows_now)
        self.stack_model.rowsRemoved.connect(self._lay_out_rows_now)
        document.events.selection.connect(self.select_row)
        document.changed.connect(self._update_actions)  # the layer count decides "move down"
        self.select_row(document.selected_row)

    # -- actions ----------------------------------------------------------
    def _make_actions(self) -> None:
        style = self.style()
        specs = (
            ("actionRemoveLayer", "&Remove layer", QKeySequence.StandardKey.Delete,
             QStyle.StandardPixmap.SP_TrashIcon, self.remove_selected),
            ("actionDuplicateLayer", "D&uplicate layer", QKeySequence("Ctrl+D"),
             QStyle.StandardPixmap.SP_FileDialogNewFolder, self.duplicate_selected),
            ("actionMoveLayerUp", "Move layer &up", QKeySequence("Alt+Up"),
             QStyle.StandardPixmap.SP_ArrowUp, lambda: self.move_selected(-1)),
            ("actionMoveLayerDown", "Move layer do&wn", QKeySequence("Alt+Down"),
             QStyle.StandardPixmap.SP_ArrowDown, lambda: self.move_selected(+1)),
            ("actionMoveOutOfBlock", "Move out of the &block", QKeySequence("Alt+Left"),
             QStyle.StandardPixmap.SP_ArrowLeft, self.move_selected_out),
            ("actionWrapResidual", "&Wrap selection in a residual block", QKeySequence("Ctrl+G"),
             QStyle.StandardPixmap.SP_DirLinkIcon, self.wrap_selected),
            ("actionUnwrapBlock", "Un&wrap block", QKeySequence("Ctrl+Shift+G"),
             QStyle.StandardPixmap.SP_DirOpenIcon, self.unwrap_selected),
        )
        self.layer_actions: list[QAction] = []
        for name, text, shortcut, icon, slot in specs:
            action = QAction(style.standardIcon(icon), text, self)
            action.setObjectName(name)
            action.setShortcut(shortcut)
            # Only while the stack has focus: Delete in a spin box must not remove a layer.
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(slot)
            self.addAction(action)
            self.layer_actions.append(action)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self._update_actions()

    def _update_actions(self) -> None:
        path = self.selected_path()
        count = 0
        if path is not None:
            stack_path, index = parent_of(path)
            count = len(stack_at(self.document.design.layers, stack_path))
        remove, duplicate, up, down, out, wrap, unwrap = self.layer_actions
        remove.setEnabled(path is not None)
        duplicate.setEnabled(path is not None)
        up.setEnabled(path is not None and index > 0)
        down.setEnabled(path is not None and index < count - 1)
        out.setEnabled(path is not None and len(path) > 1)
        wrap.setEnabled(self.selected_run() is not None)
        unwrap.setEnabled(path is not None and self._can_unwrap(self._layer(path)))

    # -- selection ----------------------------------------------------------
    def selected_row(self) -> int | None:
        """The selected stack row (0 the input), or None."""
        index = self.currentIndex()
        return index.row() if index.isValid() else None

    def selected_layer_index(self) -> int | None:
        """The selected layer's position in the design when it is a top-level layer; None otherwise."""
        path = self.selected_path()
        return path[0] if path is not None and len(path) == 1 else None

    def selected_path(self) -> tuple | None:
        """The path of the layer (or block) whose row is current; None for the input, a part or a merge row."""
        row = self.selected_row()
        layout = self.document.layout
        if row is None or row == INPUT_ROW or row >= len(layout):
            return None
        record = layout.row(row)
        return record.path if record.role == LAYER else None

    def selected_run(self) -> tuple[tuple, int] | None:
        """(first path, count) when the selected rows are whole layers next to each other in one stack."""
        # The selection's spans, not selectedRows(): that makes an index per row and cell (a call each).
        spans = self.selectionModel().selection()
        rows = sorted({row for span in spans for row in range(span.top(), span.bottom() + 1)})
        current = self.selected_row()
        if not rows and current is not None:
            rows = [current]
        layout = self.document.layout
        if not rows or rows[0] == INPUT_ROW or rows[-1] >= len(layout):
            return None
        records = [layout.row(row) for row in rows]
        first = records[0]
        if first.role != LAYER:
            return None
        stack_path, index = parent_of(first.path)
        # Rows of layers inside a selected block come along with it; other rows must be its siblings.
        expected = index
        for record in records:
            if record.path[:len(stack_path)] != stack_path or len(record.path) <= len(stack_path):
                return None
            if len(record.path) == len(stack_path) + 1:
                if record.role != LAYER or record.path[-1] != expected:
                    return None
                expected += 1
        return first.path, expected - index

    @staticmethod
    def _can_unwrap(layer) -> bool:
        """A residual block, or a concat block with at most one branch that holds layers."""
        if layer.kind == "concat":
            return sum(1 for branch in layer.branches if branch) <= 1
        return layer.kind in BLOCK_KINDS

    def _layer(self, path: tuple):
        return layer_at(self.document.design.layers, path)

    def select_row(self, row: int) -> None:
        """Select and show stack row ``row``."""
        row = max(0, min(row, self.stack_model.rowCount() - 1))
        if row == self.selected_row() and self.selectionModel().isRowSelected(row):
            return  # e.g. after a field edit: nothing to do, and scrolling costs time
        index = self.stack_model.index(row, 0)
        self.selectionModel().setCurrentIndex(index, _SELECT_ROW)
        if not self.viewport().rect().contains(self.visualRect(index)):
            self.scrollTo(index)

    # -- collapsing and expanding blocks ------------------------------------------
    def toggle_block(self, row: int) -> bool:
        """Collapse or expand the block shown at ``row``; False when the row is no block."""
        layout = self.document.layout
        if row <= INPUT_ROW or row >= len(layout):
            return False
        record = layout.row(row)
        if record.role != LAYER or self._layer(record.path).kind not in BLOCK_KINDS:
            return False
        self.document.set_collapsed(record.path, not self.document.is_collapsed(record.path))
        return True

    def _triangle_hit(self, position) -> int | None:
        """The row whose block triangle is under ``position`` (viewport coordinates), or None."""
        index = self.indexAt(position)
        if not index.isValid() or index.column() != 0 or self.document.layout.flat:
            return None
        record = self.document.layout.row(index.row())
        if record.role != LAYER or self._layer(record.path).kind not in BLOCK_KINDS:
            return None
        metrics = self.fontMetrics()
        left = self.columnViewportPosition(0) + 4 + metrics.horizontalAdvance(INDENT * record.depth)
        return index.row() if left - 4 <= position.x() <= left + metrics.horizontalAdvance(EXPANDED) + 4 else None

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        row = self._triangle_hit(event.position().toPoint())
        if row is not None and event.button() == Qt.MouseButton.LeftButton:
            self.toggle_block(row)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 - Qt's name
        index = self.indexAt(event.position().toPoint())
        if index.isValid() and self.toggle_block(index.row()):
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.stack_model.last_drop_error = None
        super().dropEvent(event)
        error = self.stack_model.last_drop_error
        if error:  # e.g. a block dropped into itself: say why nothing happened, where it happened
            QToolTip.showText(self.viewport().mapToGlobal(event.position().toPoint()), error, self)

    def startDrag(self, actions) -> None:  # noqa: N802 - Qt's name
        # A drag moves the row it started on, even when Shift+click selected a run of rows for wrapping.
        current = self.currentIndex()
        if current.isValid() and len(self.selectionModel().selectedRows()) > 1:
            self.selectionModel().select(current, _SELECT_ROW)
        super().startDrag(actions)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        # Left collapses a block, Right expands it, as in a tree (the stack has no cells to step through).
        key, row = event.key(), self.selected_row()
        if (key in (Qt.Key.Key_Left, Qt.Key.Key_Right) and row is not None
                and event.modifiers() == Qt.KeyboardModifier.NoModifier):
            path = self.selected_path()
            if path is not None and self._layer(path).kind in BLOCK_KINDS:
                if self.document.is_collapsed(path) == (key == Qt.Key.Key_Right):
                    self.toggle_block(row)
                event.accept()
                return
        super().keyPressEvent(event)

    def _on_selection_changed(self, *_args) -> None:
        if not self.document.updating:  # mid-edit the rows are moving; the edit's end updates the actions
            self._update_actions()

    def _on_current_row_changed(self, current, _previous) -> None:
        if not self.document.updating:
            self._update_actions()
        # While the document applies an edit, Qt moves the current row along with the rows;
        # the document says what to select once the edit is done.
        if current.isValid() and not self.document.updating:
            self.document.select(current.row())

    def _lay_out_rows_now(self, *_args) -> None:
        self.executeDelayedItemsLayout()

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:  # the delegate's prepared texts belong to the old font
            self.row_delegate.forget()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self.state() == QAbstractItemView.State.NoState and self.isLeftToRight() and not self.showGrid():
            self._paint_rows(event.rect())
        else:  # a drag over the stack (Qt draws the drop indicator), a right-to-left layout, a grid
            super().paintEvent(event)
        if self.stack_model.rowCount() > 1:
            return
        # An empty design: say what to do, below the input row.
        painter = QPainter(self.viewport())
        painter.setPen(self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
        top = self.rowViewportPosition(0) + self.rowHeight(0) + 16
        area = self.viewport().rect().adjusted(16, top, -16, 0)
        painter.drawText(area, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
                         "Drag layers here from the palette, or double-click one to add it.\n"
                         "Or open a preset from the Presets menu (CIFAR10 is the lecture's network).")
        painter.end()

    def _paint_rows(self, area: QRect) -> None:
        """Paint the rows in ``area`` a row at a time: what QTableView paints, for a fraction of the cost.

        QTableView calls the delegate once per cell with a fresh style option,
        which from Python costs more than drawing the cell; an insert repaints
        every visible row (they all moved). Here the rows go to
        :meth:`LayerRowDelegate.paint_rows` in one call; when the stack has
        focus, the style then frames the current cell as it does when a delegate
        paints it. The pixels are Qt's own: ``tests/gui/test_designer_stack_painting.py``.
        """
        model = self.stack_model
        first = self.rowAt(area.top())
        if first < 0:
            return  # below the last row: nothing but the viewport's background
        last = self.rowAt(area.bottom())
        last = model.rowCount() - 1 if last < 0 else last
        columns = []
        for column in range(model.columnCount()):
            left, width = self.columnViewportPosition(column), self.columnWidth(column)
            if width > 0 and not self.isColumnHidden(column) and left <= area.right() and left + width > area.left():
                columns.append((column, left, width))
        if not columns:
            return
        # Rows are selected whole, one at a time; asking isRowSelected of every row asks the model
        # for an index per cell (each a call into Python). Only rows the selection touches are asked.
        selection = self.selectionModel()
        touched = {row for span in selection.selection() for row in range(span.top(), span.bottom() + 1)}
        selected_rows = {row for row in touched if first <= row <= last and selection.isRowSelected(row, QModelIndex())}
        alternate_rows = self.alternatingRowColors()
        top, height = self.rowViewportPosition(first), self.rowHeight(first)
        if self.rowViewportPosition(last) == top + (last - first) * height and self.rowHeight(last) == height:
            # Rows of one height (the usual case): their places follow without asking the header for each.
            places = [(top + (row - first) * height, height) for row in range(first, last + 1)]
        else:
            places = [(self.rowViewportPosition(row), self.rowHeight(row)) for row in range(first, last + 1)]
        rows = [(row, row_top, row_height, row in selected_rows, alternate_rows and row % 2 == 1)
                for row, (row_top, row_height) in zip(range(first, last + 1), places)]
        current = self.currentIndex()
        focus = (self.hasFocus() or self.viewport().hasFocus()) and current.isValid() and first <= current.row() <= last
        painter = QPainter(self.viewport())
        self.row_delegate.paint_rows(painter, self.palette(), self.font(), self.viewport(), self.isActiveWindow(),
                                     rows, columns)
        if focus and any(column == current.column() for column, _, _ in columns):
            row, top, height, selected, alternate = rows[current.row() - first]
            column = current.column()
            option = QStyleOptionViewItem()
            self.initViewItemOption(option)
            option.rect = QRect(self.columnViewportPosition(column), top, self.columnWidth(column), height)
            option.state |= QStyle.StateFlag.State_HasFocus
            if selected:
                option.state |= QStyle.StateFlag.State_Selected
            if alternate:
                option.features |= QStyleOptionViewItem.ViewItemFeature.Alternate
            # The cell itself is drawn with its row; the style adds the focus frame as it does for a delegate.
            style = self.style()
            frame = QStyleOptionFocusRect()
            frame.initFrom(self)
            frame.state = option.state | QStyle.StateFlag.State_KeyboardFocusChange | QStyle.StateFlag.State_Item
            frame.rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemFocusRect, option, self)
            group = (QPalette.ColorGroup.Normal if option.state & QStyle.StateFlag.State_Enabled
                     else QPalette.ColorGroup.Disabled)
            frame.backgroundColor = option.palette.color(
                group, QPalette.ColorRole.Highlight if selected else QPalette.ColorRole.Window)
            style.drawPrimitive(QStyle.PrimitiveElement.PE_FrameFocusRect, frame, painter, self)
        painter.end()

    # -- edits --------------------------------------------------------------
    def remove_selected(self) -> None:
        path = self.selected_path()
        if path is not None:
            self.document.remove_at(path)

    def duplicate_selected(self) -> None:
        path = self.selected_path()
        if path is not None:
            self.document.duplicate_at(path)

    def move_selected(self, step: int) -> None:
        """Move the selected layer up or down within its own stack."""
        path = self.selected_path()
        if path is None:
            return
        stack_path, index = parent_of(path)
        count = len(stack_at(self.document.design.layers, stack_path))
        target = index + step
        if not 0 <= target < count:
            return
        if not stack_path:
            self.document.move_layer(index, target)
            return
        # The slot as it is before the move: below the next layer when moving down.
        self.document.move_to(path, (*stack_path, target + 1 if step > 0 else target))

    def move_selected_out(self) -> None:
        """Move the selected layer out of its block, to just after the block."""
        path = self.selected_path()
        if path is None or len(path) == 1:
            return
        block_path = path[:-2]
        self._say(self.document.move_to(path, (*block_path[:-1], block_path[-1] + 1)))

    def wrap_selected(self) -> None:
        """Make the selected rows (whole layers of one stack) the body of a new residual block."""
        run = self.selected_run()
        if run is not None:
            self._say(self.document.wrap_in_residual(*run))

    def unwrap_selected(self) -> None:
        """Put the selected block's layers in its place."""
        path = self.selected_path()
        if path is not None and self._layer(path).kind in BLOCK_KINDS:
            self._say(self.document.unwrap(path))

    def _say(self, error: str | None) -> None:
        """Show why an edit from the keyboard or a menu was refused, beside the selected row."""
        row = self.selected_row()
        if error and row is not None:
            rect = self.visualRect(self.stack_model.index(row, 0))
            QToolTip.showText(self.viewport().mapToGlobal(rect.bottomLeft()), error, self)
