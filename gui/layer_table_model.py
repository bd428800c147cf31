"""A read-only table of a design's layers and their shapes, for Qt item views."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from core.design import Design
from core.report_text import layer_formula
from core.shape_records import DesignReport, format_shape
from core.shapes import infer_shapes

_COLUMNS = ("Layer", "Kind", "Output", "Parameters", "Formula")


class LayerTableModel(QAbstractTableModel):
    """Rows: the input, then one per layer; columns: name, kind, output size, parameters, formula."""

    def __init__(self, design: Design, parent=None):
        super().__init__(parent)
        self._design = design
        self._report = infer_shapes(design)

    @property
    def report(self) -> DesignReport:
        """The shape engine's report of the design shown."""
        return self._report

    def set_design(self, design: Design) -> None:
        """Show another design (or the same one after an edit)."""
        self.beginResetModel()
        self._design = design
        self._report = infer_shapes(design)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self._report.layers) + 1

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(_COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return _COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        row, column = index.row(), index.column()
        if row == 0:
            if role == Qt.ItemDataRole.DisplayRole:
                return ("input", "", format_shape(self._report.input_shape), "", "")[column]
            return None
        layer = self._report.layers[row - 1]
        if role == Qt.ItemDataRole.DisplayRole:
            params = "?" if layer.params is None else f"{layer.params:,}"
            formula = layer_formula(layer) if layer.problem is None else layer.error
            return (layer.name, layer.kind, format_shape(layer.output_shape), params, formula)[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            notes = [f.note for f in layer.formulas if f.note]
            return "\n".join(filter(None, [layer.error, *notes])) or None
        if role == Qt.ItemDataRole.ForegroundRole and layer.problem is not None:
            return QBrush(QColor("#d32f2f"))
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
