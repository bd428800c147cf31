"""How the layer stack's cells are painted: the model's row texts, laid out once and kept.

The stack repaints whole runs of rows after each edit (rows below an inserted
layer move). Qt's default delegate asks the model for seven roles per cell and
lays each text out again on every paint; this one reads the model's cached row
(texts and state) in one call and draws :class:`QStaticText` prepared once per
text, placed once per row content and column widths (so rows that an insert
moves down keep their layout). The stack view hands it whole rows
(:meth:`LayerRowDelegate.paint_rows`); Qt's own per-cell calls (during a drag)
go through the same code. It draws what the default delegate does with this
model's roles: alternating and selected rows, error rows' background, the
error and "affected" colours, bold input row and failing output, right-aligned
parameters, and "…" where a text does not fit.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QSizeF, Qt
from PySide6.QtGui import QFont, QFontMetrics, QPalette, QStaticText
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from convstudio.gui import theme
from convstudio.gui.designer.layer_table_model import OUTPUT_COLUMN, PARAMS_COLUMN, LayerStackModel

_CACHE_LIMIT = 4000  # prepared texts kept; a 200-layer design shows about 800
# Flags as plain ints: PySide's enum operators cost microseconds, and paint runs for every cell.
_SELECTED = QStyle.StateFlag.State_Selected.value
_ACTIVE = QStyle.StateFlag.State_Active.value
_HAS_FOCUS = QStyle.StateFlag.State_HasFocus.value
_ALTERNATE = QStyleOptionViewItem.ViewItemFeature.Alternate.value
_ACTIVE_GROUP, _INACTIVE_GROUP = QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive
_HIGHLIGHT, _HIGHLIGHTED_TEXT = QPalette.ColorRole.Highlight, QPalette.ColorRole.HighlightedText
_ALTERNATE_BASE, _TEXT = QPalette.ColorRole.AlternateBase, QPalette.ColorRole.Text


class LayerRowDelegate(QStyledItemDelegate):
    """Paints the stack's cells from :meth:`LayerStackModel.row_view`."""

    def __init__(self, model: LayerStackModel, parent=None):
        super().__init__(parent)
        self._model = model
        self._texts: dict[tuple[str, bool, int], tuple[QStaticText, QSizeF]] = {}
        self._placed: dict[tuple, tuple] = {}  # each row's prepared texts and their places (see _place)
        self._fonts: dict[bool, QFont] = {}
        self._text_margin: int | None = None

    def forget(self) -> None:
        """Drop the prepared texts (the font changed)."""
        self._texts = {}
        self._placed = {}
        self._fonts = {}
        self._text_margin = None

    def paint(self, painter, option, index) -> None:
        row, column = index.row(), index.column()
        flags = option.state.value
        if flags & _HAS_FOCUS:  # the current cell, once per view: the style draws its focus frame
            super().paint(painter, option, index)
            return
        rect = option.rect
        self.paint_rows(painter, option.palette, option.font, option.widget, bool(flags & _ACTIVE),
                        ((row, rect.y(), rect.height(), bool(flags & _SELECTED),
                          bool(option.features.value & _ALTERNATE)),),
                        ((column, rect.x(), rect.width()),))

    def paint_rows(self, painter, palette: QPalette, base_font: QFont, widget, active: bool, rows, columns) -> None:
        """Paint whole rows of cells as the view's cells look, with what is shared looked up once.

        ``rows`` holds (row, top, height, selected, alternate) and ``columns``
        (column, left, width), left to right and side by side. Qt paints one cell
        at a time through :meth:`paint`; the stack view paints every row it
        repaints through here (see :meth:`LayerStackView.paintEvent`).
        """
        group = _ACTIVE_GROUP if active else _INACTIVE_GROUP
        highlight, highlighted_text = palette.brush(group, _HIGHLIGHT), palette.color(group, _HIGHLIGHTED_TEXT)
        alternate_base, text_color = palette.brush(group, _ALTERNATE_BASE), palette.color(group, _TEXT)
        fonts = (self._font(base_font, False), self._font(base_font, True))
        margin = self._margin(widget)
        columns = tuple(columns)
        left = columns[0][1]
        span = columns[-1][1] + columns[-1][2] - left
        row_view = self._model.row_view
        painter_font = None
        for row, top, height, selected, alternate in rows:
            texts, _tooltip, state = row_view(row)
            if selected:
                background, pen = highlight, highlighted_text
            elif state == "error":
                background, pen = theme.error_background(palette), theme.error_color(palette)
            else:
                background = alternate_base if alternate else None
                # "part": a block's part header or merge row, muted like rows that only show.
                pen = theme.affected_color(palette) if state in ("affected", "part") else text_color
            if background is not None:
                painter.fillRect(left, top, span, height, background)
            painter.setPen(pen)
            key = (texts, state, row == 0, height, columns)
            placed = self._placed.get(key)
            if placed is None:
                placed = self._place(key, fonts, margin)
            for bold, x, dy, static in placed:
                font = fonts[bold]
                if font is not painter_font:
                    painter.setFont(font)
                    painter_font = font
                painter.drawStaticText(QPointF(x, top + dy), static)

    def _place(self, key: tuple, fonts: tuple[QFont, QFont], margin: int) -> tuple:
        """Where each text of a row goes: (bold, x, offset from the row's top, prepared text) per cell.

        Kept by the row's texts, state and the columns' geometry, not by its position:
        rows that an insert moves down keep their place within the row.
        """
        texts, state, is_input, height, columns = key
        placed = []
        for column, x, width in columns:
            bold = is_input or (column == OUTPUT_COLUMN and state == "error")
            static, size = self._static(texts[column], fonts[bold], bold, width - 2 * margin)
            x_text = x + width - margin - size.width() if column == PARAMS_COLUMN else x + margin
            placed.append((bold, x_text, (height - size.height()) / 2, static))
        if len(self._placed) > _CACHE_LIMIT:
            self._placed = {}
        self._placed[key] = placed = tuple(placed)
        return placed

    def _margin(self, widget) -> int:
        """The style's margin left and right of an item's text, as QStyledItemDelegate leaves it."""
        if self._text_margin is None:
            style = widget.style() if widget is not None else QApplication.style()
            self._text_margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, widget) + 1
        return self._text_margin

    def _font(self, base: QFont, bold: bool) -> QFont:
        font = self._fonts.get(bold)
        if font is None:
            font = self._fonts[bold] = QFont(base)
            font.setBold(bold)
        return font

    def _static(self, text: str, font: QFont, bold: bool, width: int) -> tuple[QStaticText, QSizeF]:
        """``text`` prepared for ``font`` (elided to ``width`` when it is wider), and its size."""
        key = (text, bold, 0)
        static = self._texts.get(key)
        if static is None:
            static = self._make(text, font, key)
        if static[1].width() <= width:
            return static
        key = (text, bold, width)
        elided = self._texts.get(key)
        if elided is None:
            elided = self._make(QFontMetrics(font).elidedText(text, Qt.TextElideMode.ElideRight, width), font, key)
        return elided

    def _make(self, text: str, font: QFont, key: tuple) -> tuple[QStaticText, QSizeF]:
        if len(self._texts) > _CACHE_LIMIT:
            self._texts = {}
        static = QStaticText(text)
        static.setTextFormat(Qt.TextFormat.PlainText)
        static.prepare(font=font)
        self._texts[key] = prepared = (static, static.size())
        return prepared
