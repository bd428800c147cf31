"""The layer stack as a table model: the input, then one row per layer.

Columns: layer name, key settings (``64 ch, k4 s1 p2, relu``), output size
(``64x17x17``) and parameters. The model reads everything from the
:class:`~convstudio.gui.designer.document.DesignDocument`; drops and moves go to the document as
undoable edits, and the model updates the rows the document's events name.
A block's row is followed by its parts' headers, their layers (indented) and
its merge row (``document.layout``); a drop between them lands in the part
the position names (:func:`drop_slot`).
"""

from __future__ import annotations

import json

from PySide6.QtCore import QAbstractTableModel, QMimeData, QModelIndex, Qt
from PySide6.QtGui import QFont

from convstudio.core.receptive_field import LayerField
from convstudio.core.layer_paths import layer_at
from convstudio.core.layers import inner_stacks
from convstudio.core.shape_records import format_shape
from convstudio.gui import theme
from convstudio.gui.designer.block_row_text import block_row_view, row_number_text
from convstudio.gui.designer.document import INPUT_ROW, DesignDocument, layer_row
from convstudio.gui.designer.field_cache import fields_of
from convstudio.gui.designer.stack_rows import LAYER, PART
from convstudio.gui.designer.layer_text import input_settings, kind_title, layer_settings
from convstudio.gui.designer.palette import KIND_MIME_TYPE, kinds_from_mime

ROWS_MIME_TYPE = "application/x-convstudio-layer-rows"
COLUMNS = ("Layer", "Settings", "Output", "Parameters", "Receptive field")
OUTPUT_COLUMN = 2
PARAMS_COLUMN = 3
FIELD_COLUMN = 4  # r per axis (core.receptive_field); "(whole)" once one unit sees the whole input
# Roles and flags as plain values: data() and flags() run thousands of times per second.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_BACKGROUND = int(Qt.ItemDataRole.BackgroundRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_HANDLED_ROLES = frozenset({_DISPLAY, _TOOLTIP, _FOREGROUND, _BACKGROUND, _FONT, _ALIGNMENT})
_MAX_RUNS = 4  # more runs of changed rows than this are redrawn as one span: each signal costs the view work
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_INPUT_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
_LAYER_FLAGS = _INPUT_FLAGS | Qt.ItemFlag.ItemIsDragEnabled
_PART_FLAGS = _INPUT_FLAGS | Qt.ItemFlag.ItemIsDropEnabled


def row_label(row: int) -> str:
    """The number shown for stack row ``row``: "in" for the input, then the layer's 1-based position."""
    return str(row) if row else "in"


class LayerStackModel(QAbstractTableModel):
    """Rows: the input (row 0), then the layers. Accepts palette kinds and row moves as drops.

    The model follows the document's events: rows are inserted, removed and
    moved as the design's layers are, and ``dataChanged`` is emitted only for
    the rows whose contents the recheck changed, so views keep their scroll
    position and selection and repaint only those rows.
    """

    def __init__(self, document: DesignDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self._rows = len(document.layout)
        # (texts, tooltip, state) per row, built when a view first asks: views ask many times per paint.
        self._cache: dict[int, tuple] = {}
        self._font_cache: dict[bool, QFont] = {}
        self._fields: tuple[object, list[LayerField | None]] | None = None  # (design, its fields)
        self.last_drop_error: str | None = None  # why the last drop into a block was refused, if it was
        events = document.events
        events.rows_inserted.connect(self._on_rows_inserted)
        events.rows_removed.connect(self._on_rows_removed)
        events.rows_moved.connect(self._on_rows_moved)
        events.collapsed.connect(self._on_collapsed)
        events.input_changed.connect(self._on_input_changed)
        events.replaced.connect(self._on_replaced)
        events.rechecked.connect(self._on_rechecked)

    # -- following the document ---------------------------------------------------
    # The document says which rows each edit (or collapse, or expand) inserted, removed or moved:
    # one per layer in a plain design, a block's parts and inner layers too (``document.layout``).
    def _on_rows_inserted(self, first: int, count: int) -> None:
        self.beginInsertRows(QModelIndex(), first, first + count - 1)
        self._rows += count
        self._cache = {row + count if row >= first else row: item for row, item in self._cache.items()}
        self.endInsertRows()

    def _on_rows_removed(self, first: int, count: int) -> None:
        end = first + count
        self.beginRemoveRows(QModelIndex(), first, end - 1)
        self._rows -= count
        self._cache = {row - count if row >= end else row: item for row, item in self._cache.items()
                       if not first <= row < end}
        self.endRemoveRows()

    def _on_collapsed(self, path) -> None:
        """The block's own row turns its triangle (its parts' rows came or went already)."""
        row = self.document.layout.number_of((LAYER, path))
        if row is not None:
            self._changed_rows(row, row)

    def _on_rows_moved(self, old: int, new: int) -> None:
        # Qt names the row before which the moved row lands, counted before the move.
        if not self.beginMoveRows(QModelIndex(), old, old, QModelIndex(), new + 1 if new > old else new):
            return
        order = list(range(self._rows))
        order.insert(new, order.pop(old))
        where = {was: now for now, was in enumerate(order)}
        self._cache = {where[row]: item for row, item in self._cache.items()}
        self.endMoveRows()

    def _on_input_changed(self, _fields) -> None:
        self._changed_rows(INPUT_ROW, INPUT_ROW)

    def _on_replaced(self) -> None:
        self.beginResetModel()
        self._rows = len(self.document.layout)
        self._cache = {}
        self.endResetModel()

    def _on_rechecked(self, indices) -> None:
        """Redraw the rows whose contents changed: each contiguous run, or their span when there are many."""
        layout = self.document.layout
        if self._rows != len(layout):  # an edit that did not say what it did
            self._on_replaced()
            return
        indices = self._with_changed_fields(indices)
        if not indices:
            return
        if not layout.flat:  # a block's rows: its parts and inner layers show its results too
            self._cache = {}
            for index in indices:
                first, count = layout.top_span(index)
                self._emit_changed(first, first + count - 1)
            return
        for index in indices:
            self._cache.pop(layer_row(index), None)
        runs: list[list[int]] = []
        for index in indices:
            if runs and index == runs[-1][1] + 1:
                runs[-1][1] = index
            else:
                runs.append([index, index])
        if len(runs) > _MAX_RUNS:  # e.g. every dropout below an inserted one was renumbered
            runs = [[runs[0][0], runs[-1][1]]]  # rows between keep their cached texts: repainted, not rebuilt
        for first, last in runs:
            self._emit_changed(layer_row(first), layer_row(last))

    def _with_changed_fields(self, indices) -> list[int]:
        """``indices`` and the layers whose receptive field changed: a kernel edit that keeps
        the output shape still changes the field of every layer below it."""
        old = self._fields[1] if self._fields is not None else None
        new = self._layer_fields()
        if old is None:
            return list(indices)
        if len(old) != len(new):  # an insert or removal moves every field below it
            first = min(indices, default=len(new))
            return sorted(set(indices).union(range(first, len(new))))
        changed = {index for index, (before, after) in enumerate(zip(old, new)) if before != after}
        return sorted(changed.union(indices))

    def _layer_fields(self) -> list[LayerField | None]:
        """The receptive field of every layer of the document's design, computed once per design."""
        design = self.document.design
        if self._fields is None or self._fields[0] is not design:
            self._fields = (design, fields_of(design))
        return self._fields[1]

    def _changed_rows(self, first: int, last: int) -> None:
        for row in range(first, last + 1):
            self._cache.pop(row, None)
        self._emit_changed(first, last)

    def _emit_changed(self, first: int, last: int) -> None:
        self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))

    # -- shape of the table ---------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else self._rows

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt's name
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return self.row_number(section)
        return None

    def row_number(self, row: int) -> str:
        """The number shown left of ``row``: "in", a top-level layer's position, or nothing inside a block."""
        layout = self.document.layout
        if layout.flat or row >= len(layout):
            return row_label(row)
        return row_number_text(layout.row(row))

    # -- contents -----------------------------------------------------------
    def row_problem(self, row: int) -> str | None:
        """The engine's message for a failing row, or why an affected row's size is unknown."""
        problems = self.document.report.problems
        if row == 0 or not problems:
            return None
        layer = self.document.report.layers[row - 1]
        if layer.problem is not None:
            return f"{layer.label}: {layer.problem}"
        first = problems[0]
        if layer.index > first.index:
            return f"After a failing layer: {first.label} {first.problem.message}"
        return None

    def row_state(self, row: int) -> str:
        """``ok``, ``error`` (this layer fails) or ``affected`` (after a failing layer)."""
        problems = self.document.report.problems
        if row == 0 or not problems:
            return "ok"
        layer = self.document.report.layers[row - 1]
        if layer.problem is not None:
            return "error"
        return "affected" if layer.index > problems[0].index else "ok"

    def row_view(self, row: int) -> tuple[tuple[str, ...], str | None, str]:
        """(texts by column, tooltip, state) of a row, built once per change: views ask many times per paint."""
        cached = self._cache.get(row)
        if cached is None and row > 0 and not self.document.layout.flat:
            cached = self._cache[row] = self._block_row_view(row)
        if cached is None:
            texts = tuple(self._display(row, column) for column in range(len(COLUMNS)))
            cached = self._cache[row] = (texts, self._tooltip(row), self.row_state(row))
        return cached

    def _block_row_view(self, row: int) -> tuple[tuple[str, ...], str | None, str]:
        """A row of a design with blocks (see :mod:`~convstudio.gui.designer.block_row_text`)."""
        record = self.document.layout.row(row)
        field_text = ""
        if record.role == LAYER and len(record.path) == 1:  # receptive fields are the top level's
            field_text = self._display_field(record.path[0])
        return block_row_view(self.document, record, len(COLUMNS), field_text)

    def _display_field(self, index: int) -> str:
        fields = self._layer_fields()
        field = fields[index] if index < len(fields) else None
        if field is None:
            return "?"
        return "x".join(map(str, field.sizes)) + ("  (whole)" if field.covers_input else "")

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        role = int(role)
        if role not in _HANDLED_ROLES:  # most roles a delegate asks for: answered fast
            return None
        row, column = index.row(), index.column()
        texts, tooltip, state = self.row_view(row)
        if role == _DISPLAY:
            return texts[column]
        if role == _TOOLTIP:
            return tooltip
        if role == _FOREGROUND:
            if state == "error":
                return theme.error_color()
            return theme.affected_color() if state in ("affected", "part") else None
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
        return _RIGHT if column == PARAMS_COLUMN else None

    def _display(self, row: int, column: int) -> str:
        report = self.document.report
        if row == 0:
            spec = self.document.design.input
            return ("input", input_settings(spec), format_shape(report.input_shape), "", "")[column]
        layer = self.document.design.layers[row - 1]
        shape = report.layers[row - 1]
        if column == 0:
            return f"{shape.name}  ({kind_title(layer.kind)})"
        if column == 1:
            return layer_settings(layer)
        if column == OUTPUT_COLUMN:
            marker = "  ✖" if shape.problem is not None else ""
            return format_shape(shape.output_shape) + marker
        if column == FIELD_COLUMN:
            fields = self._layer_fields()
            field = fields[row - 1] if row - 1 < len(fields) else None
            if field is None:
                return "?"
            return "x".join(map(str, field.sizes)) + ("  (whole)" if field.covers_input else "")
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
        row = index.row()
        if row == 0:
            return _INPUT_FLAGS
        layout = self.document.layout
        if layout.flat:
            return _LAYER_FLAGS
        role = layout.row(row).role
        # Layers are dragged; a part header takes drops onto it (into that part); a merge row only shows.
        return _LAYER_FLAGS if role == LAYER else _PART_FLAGS if role == PART else _INPUT_FLAGS

    def supportedDropActions(self) -> Qt.DropAction:  # noqa: N802 - Qt's name
        return Qt.DropAction.CopyAction | Qt.DropAction.MoveAction

    def supportedDragActions(self) -> Qt.DropAction:  # noqa: N802 - Qt's name
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt's name
        return [ROWS_MIME_TYPE, KIND_MIME_TYPE]

    def mimeData(self, indexes) -> QMimeData | None:  # noqa: N802 - Qt's name
        layout = self.document.layout
        rows = sorted({index.row() for index in indexes
                       if index.row() > 0 and (layout.flat or layout.row(index.row()).role == LAYER)})
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
        if not self.document.layout.flat:
            return self._drop_with_blocks(mime, row, parent)
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

    def _drop_with_blocks(self, mime, row: int, parent: QModelIndex) -> bool:
        """A drop in a design with blocks: into the stack the drop position names (see :func:`drop_slot`)."""
        layout = self.document.layout
        on_part = row < 0 and parent.isValid()
        slot = drop_slot(layout, parent.row() if on_part else row, on_part)
        if mime.hasFormat(ROWS_MIME_TYPE):
            rows = json.loads(bytes(mime.data(ROWS_MIME_TYPE)).decode())
            if len(rows) != 1:
                return False
            self.last_drop_error = self.document.move_to(layout.row(rows[0]).path, slot)
            return True  # the move is done (or refused, and said why); nothing for the view to remove
        kinds = kinds_from_mime(mime)
        for offset, kind in enumerate(kinds):
            self.last_drop_error = self.document.insert_kind_at((*slot[:-1], slot[-1] + offset), kind)
        return bool(kinds)


def drop_slot(layout, row: int, onto: bool = False) -> tuple:
    """Where a drop before stack row ``row`` (or onto part row ``row``) puts a layer: a slot (layer path).

    Before a layer's row: in front of that layer, in its stack. Onto a part
    header (``body``, ``shortcut``, ``branch 2``): at the start of that part.
    Before a part header: at the end of the part above it (the first part's
    start when there is none). Before a block's merge row: at the end of its
    last part. Before the input or at the top: the first place of the
    design; past the last row (``row`` -1): the end of the design.
    """
    count = len(layout.design.layers)
    if row < 0 or row >= len(layout):
        return (count,)
    if row == 0:
        return (0,)
    record = layout.row(row)
    if record.role == LAYER:
        return record.path
    block_path = record.path[:-1] if record.role == PART else record.path
    parts = inner_stacks(layer_at(layout.design.layers, block_path))
    names = [name for name, _layers in parts]
    if record.role == PART:
        position = names.index(record.path[-1])
        if onto or position == 0:
            return (*record.path, 0)
        previous, layers = parts[position - 1]
        return (*block_path, previous, len(layers))
    last, layers = parts[-1]
    return (*block_path, last, len(layers))
