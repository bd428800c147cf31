"""The layer stack as a table model: the input, then one row per layer.

Columns: layer name, key settings (``64 ch, k4 s1 p2, relu``), output size
(``64x17x17``) and parameters. The model reads everything from the
:class:`~convstudio.gui.designer.document.DesignDocument`; drops and moves go to the document as
undoable edits, and the model redraws when the document says it changed.
"""

from __future__ import annotations

import json

from PySide6.QtCore import QAbstractTableModel, QMimeData, QModelIndex, Qt
from PySide6.QtGui import QFont

from convstudio.core.shape_records import format_shape
from convstudio.gui import theme
from convstudio.gui.designer.document import DesignDocument
from convstudio.gui.designer.layer_text import input_settings, kind_title, layer_settings
from convstudio.gui.designer.palette import KIND_MIME_TYPE, kinds_from_mime

ROWS_MIME_TYPE = "application/x-convstudio-layer-rows"
COLUMNS = ("Layer", "Settings", "Output", "Parameters")
OUTPUT_COLUMN = 2
_PARAMS_COLUMN = 3
# Roles and flags as plain values: data() and flags() run thousands of times per second.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_BACKGROUND = int(Qt.ItemDataRole.BackgroundRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_HANDLED_ROLES = frozenset({_DISPLAY, _TOOLTIP, _FOREGROUND, _BACKGROUND, _FONT, _ALIGNMENT})
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_INPUT_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
_LAYER_FLAGS = _INPUT_FLAGS | Qt.ItemFlag.ItemIsDragEnabled


def _single_difference(shorter: tuple, longer: tuple) -> int | None:
    """Where ``longer`` has one extra item compared with ``shorter``, or None if it differs otherwise."""
    at = next((i for i, (a, b) in enumerate(zip(shorter, longer)) if a is not b), len(shorter))
    if all(a is b for a, b in zip(shorter[at:], longer[at + 1:])):
        return at
    return None


class LayerStackModel(QAbstractTableModel):
    """Rows: the input (row 0), then the layers. Accepts palette kinds and row moves as drops."""

    def __init__(self, document: DesignDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self._layers = tuple(document.design.layers)
        self._rows = len(self._layers) + 1
        self._first_problem: int | None = None
        self._cache: dict[int, tuple] = {}
        self._font_cache: dict[bool, QFont] = {}
        self._on_changed()
        document.changed.connect(self._on_changed)

    def _on_changed(self) -> None:
        report = self.document.report
        self._first_problem = report.problems[0].index if report.problems else None
        self._cache = {}
        self._font_cache = {}
        old, new = self._layers, tuple(self.document.design.layers)
        self._layers = new
        # Edits keep untouched layers as the same objects, so one inserted or removed
        # row is found by identity; views then keep their scroll position and selection.
        if len(new) == len(old) + 1 and (at := _single_difference(old, new)) is not None:
            self.beginInsertRows(QModelIndex(), at + 1, at + 1)
            self._rows += 1
            self.endInsertRows()
        elif len(new) == len(old) - 1 and (at := _single_difference(new, old)) is not None:
            self.beginRemoveRows(QModelIndex(), at + 1, at + 1)
            self._rows -= 1
            self.endRemoveRows()
        elif len(new) != len(old):
            self.beginResetModel()
            self._rows = len(new) + 1
            self.endResetModel()
            return
        self.dataChanged.emit(self.index(0, 0), self.index(self._rows - 1, len(COLUMNS) - 1))

    # -- shape of the table ---------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else self._rows

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt's name
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return str(section) if section else "in"
        return None

    # -- contents -----------------------------------------------------------
    def row_problem(self, row: int) -> str | None:
        """The engine's message for a failing row, or why an affected row's size is unknown."""
        if row == 0 or self._first_problem is None:
            return None
        layer = self.document.report.layers[row - 1]
        if layer.problem is not None:
            return f"{layer.label}: {layer.problem}"
        if layer.index > self._first_problem:
            first = self.document.report.layers[self._first_problem]
            return f"After a failing layer: {first.label} {first.problem.message}"
        return None

    def row_state(self, row: int) -> str:
        """``ok``, ``error`` (this layer fails) or ``affected`` (after a failing layer)."""
        if row == 0 or self._first_problem is None:
            return "ok"
        layer = self.document.report.layers[row - 1]
        if layer.problem is not None:
            return "error"
        return "affected" if layer.index > self._first_problem else "ok"

    def _row(self, row: int) -> tuple:
        """(texts, tooltip, state) of a row, built once per change: views ask many times per paint."""
        cached = self._cache.get(row)
        if cached is None:
            texts = tuple(self._display(row, column) for column in range(len(COLUMNS)))
            cached = self._cache[row] = (texts, self._tooltip(row), self.row_state(row))
        return cached

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        role = int(role)
        if role not in _HANDLED_ROLES:  # most roles a delegate asks for: answered fast
            return None
        row, column = index.row(), index.column()
        texts, tooltip, state = self._row(row)
        if role == _DISPLAY:
            return texts[column]
        if role == _TOOLTIP:
            return tooltip
        if role == _FOREGROUND:
            if state == "error":
                return theme.error_color()
            return theme.affected_color() if state == "affected" else None
        if role == _BACKGROUND:
            return theme.error_background() if state == "error" else None
        if role == _FONT:
            if row != 0 and column != OUTPUT_COLUMN:
                return None
            bold = row == 0 or state == "error"
            font = self._font_cache.get(bold)
            if font is None:
                font = self._font_cache[bold] = QFont()
                font.setBold(bold)
            return font
        return _RIGHT if column == _PARAMS_COLUMN else None

    def _display(self, row: int, column: int) -> str:
        report = self.document.report
        if row == 0:
            spec = self.document.design.input
            return ("input", input_settings(spec), format_shape(report.input_shape), "")[column]
        layer = self.document.design.layers[row - 1]
        shape = report.layers[row - 1]
        if column == 0:
            return f"{shape.name}  ({kind_title(layer.kind)})"
        if column == 1:
            return layer_settings(layer)
        if column == OUTPUT_COLUMN:
            marker = "  ✖" if shape.problem is not None else ""
            return format_shape(shape.output_shape) + marker
        return "?" if shape.params is None else f"{shape.params:,}"

    def _tooltip(self, row: int) -> str | None:
        problem = self.row_problem(row)
        if problem:
            return problem
        if row == 0:
            return "The image each sample is: select it to edit channels, height, width and depth."
        shape = self.document.report.layers[row - 1]
        notes = [formula.note for formula in shape.formulas if formula.note]
        return "\n".join(notes) or None

    # -- drag and drop ------------------------------------------------------
    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.ItemIsDropEnabled
        return _LAYER_FLAGS if index.row() > 0 else _INPUT_FLAGS

    def supportedDropActions(self) -> Qt.DropAction:  # noqa: N802 - Qt's name
        return Qt.DropAction.CopyAction | Qt.DropAction.MoveAction

    def supportedDragActions(self) -> Qt.DropAction:  # noqa: N802 - Qt's name
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt's name
        return [ROWS_MIME_TYPE, KIND_MIME_TYPE]

    def mimeData(self, indexes) -> QMimeData | None:  # noqa: N802 - Qt's name
        rows = sorted({index.row() for index in indexes if index.row() > 0})
        if not rows:
            return None
        mime = QMimeData()
        mime.setData(ROWS_MIME_TYPE, json.dumps(rows).encode())
        return mime

    def canDropMimeData(self, mime, action, row, column, parent) -> bool:  # noqa: N802 - Qt's name
        return mime.hasFormat(ROWS_MIME_TYPE) or bool(kinds_from_mime(mime))

    def dropMimeData(self, mime, action, row, column, parent) -> bool:  # noqa: N802 - Qt's name
        """Insert palette kinds, or move rows, so that they land before stack row ``row``.

        Row 0 is the input, so a drop above it lands at the top of the layers;
        ``row`` -1 (dropped on empty space) appends.
        """
        if action == Qt.DropAction.IgnoreAction:
            return True
        layers = len(self.document.design.layers)
        if row < 0 and parent.isValid():
            row = parent.row()
        target = layers if row < 0 else min(max(row - 1, 0), layers)
        if mime.hasFormat(ROWS_MIME_TYPE):
            rows = json.loads(bytes(mime.data(ROWS_MIME_TYPE)).decode())
            if len(rows) != 1:
                return False
            source = rows[0] - 1
            final = target - 1 if target > source else target
            self.document.move_layer(source, final)
            # The move is done. After a MoveAction the view asks to remove the dragged rows;
            # this model does not implement removeRows, so that request changes nothing.
            return True
        kinds = kinds_from_mime(mime)
        for offset, kind in enumerate(kinds):
            self.document.insert_kind(target + offset, kind)
        return bool(kinds)
