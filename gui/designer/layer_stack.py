"""The layer stack view: the centre of the window.

A table over :class:`~convstudio.gui.designer.layer_table_model.LayerStackModel`. Layers can be
dragged to reorder them and kinds dropped from the palette; Delete, Ctrl+D and
Alt+Up/Down (also in the context menu) remove, duplicate and move the selected
layer. The selected row is the document's (view state shared by every view,
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
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyle, QStyleOptionFocusRect, QStyleOptionViewItem, QTableView

from convstudio.gui.designer.document import INPUT_ROW, DesignDocument
from convstudio.gui.designer.layer_delegate import LayerRowDelegate
from convstudio.gui.designer.layer_table_model import LayerStackModel
from convstudio.gui.designer.stack_headers import ColumnTitles, RowNumbers
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
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
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
        for column, sample in ((0, "maxpool12  (MaxPool2d)"), (2, "512x128x128  ✖"), (3, "12,345,678")):
            self.setColumnWidth(column, metrics.horizontalAdvance(sample) + 24)
        self._make_actions()
        self.selectionModel().currentRowChanged.connect(self._on_current_row_changed)
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
        index = self.selected_layer_index()
        count = len(self.document.design.layers)
        remove, duplicate, up, down = self.layer_actions
        remove.setEnabled(index is not None)
        duplicate.setEnabled(index is not None)
        up.setEnabled(index is not None and index > 0)
        down.setEnabled(index is not None and index < count - 1)

    # -- selection ----------------------------------------------------------
    def selected_row(self) -> int | None:
        """The selected stack row (0 the input), or None."""
        index = self.currentIndex()
        return index.row() if index.isValid() else None

    def selected_layer_index(self) -> int | None:
        """The selected layer's position in the design, or None for the input or nothing."""
        row = self.selected_row()
        return None if row is None or row == INPUT_ROW else row - 1

    def select_row(self, row: int) -> None:
        """Select and show stack row ``row``."""
        row = max(0, min(row, self.stack_model.rowCount() - 1))
        if row == self.selected_row() and self.selectionModel().isRowSelected(row):
            return  # e.g. after a field edit: nothing to do, and scrolling costs time
        index = self.stack_model.index(row, 0)
        self.selectionModel().setCurrentIndex(index, _SELECT_ROW)
        if not self.viewport().rect().contains(self.visualRect(index)):
            self.scrollTo(index)

    def _on_current_row_changed(self, current, _previous) -> None:
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
        index = self.selected_layer_index()
        if index is not None:
            self.document.remove_layer(index)

    def duplicate_selected(self) -> None:
        index = self.selected_layer_index()
        if index is not None:
            self.document.duplicate_layer(index)

    def move_selected(self, step: int) -> None:
        index = self.selected_layer_index()
        if index is None:
            return
        target = index + step
        if 0 <= target < len(self.document.design.layers):
            self.document.move_layer(index, target)
