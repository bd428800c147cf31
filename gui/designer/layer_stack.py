"""The layer stack view: the centre of the window.

A table over :class:`~convstudio.gui.designer.layer_table_model.LayerStackModel`. Layers can be
dragged to reorder them and kinds dropped from the palette; Delete, Ctrl+D and
Alt+Up/Down (also in the context menu) remove, duplicate and move the selected
layer. The view selects what the document asks for after each edit.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QPainter, QPalette
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyle, QTableView

from convstudio.gui.designer.document import INPUT_ROW, DesignDocument
from convstudio.gui.designer.layer_table_model import LayerStackModel


_SELECT_ROW = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows


class LayerStackView(QTableView):
    """The input and layers with their settings and output sizes. Emits ``row_selected``."""

    row_selected = Signal(int)

    def __init__(self, document: DesignDocument, parent=None):
        super().__init__(parent)
        self.setObjectName("layerStack")
        self.document = document
        self.stack_model = LayerStackModel(document, self)
        self.setModel(self.stack_model)
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
        document.selection_requested.connect(self.select_row)
        document.changed.connect(self._on_document_changed)
        self.select_row(INPUT_ROW)

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
        row = current.row() if current.isValid() else None
        self.document.note_selection(row)
        self._update_actions()
        if row is not None:
            self.row_selected.emit(row)

    def _on_document_changed(self) -> None:
        self._update_actions()
        # Rows inserted or removed above the selection move it without a currentRowChanged.
        row = self.selected_row()
        if row is not None:
            self.row_selected.emit(row)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
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
