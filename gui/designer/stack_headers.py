"""The layer stack's headers, row numbers ("in", 1, 2, ...) and column titles, each section drawn once.

Qt repaints both headers after every insert or removal of a row and every
change of the selected row, and QHeaderView asks the model six times per
section for its text, font, colours, alignment and icon, each a call into
Python: more than drawing the section. Yet an insert in the middle of the
stack leaves every visible number and title as it was; only the bold number
of the selected row moves. So each section is drawn once, by the style with
the options QHeaderView gives it, into a pixmap kept by everything that
decides its look (its text, size, selection state and neighbours, the
palette, font and window activity), and a repaint copies the pixmaps. While
the mouse is on a header (hover and pressed sections) or where Qt draws
differently (sections moved or hidden, sorting, the empty area past the last
section, right-to-left), QHeaderView paints as usual.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPixmap
from PySide6.QtWidgets import QHeaderView, QStyle, QStyleOptionHeader, QStyleOptionHeaderV2

from convstudio.gui.designer.layer_table_model import row_label

_CACHE_LIMIT = 400  # section pictures kept: a screenful of numbers in a few selection states
_ON, _SUNKEN, _ACTIVE = QStyle.StateFlag.State_On, QStyle.StateFlag.State_Sunken, QStyle.StateFlag.State_Active
_POSITION = QStyleOptionHeader.SectionPosition
_SELECTED_POSITION = QStyleOptionHeader.SelectedPosition
_ONLY, _BEGINNING, _MIDDLE, _END = (_POSITION.OnlyOneSection.value, _POSITION.Beginning.value,
                                    _POSITION.Middle.value, _POSITION.End.value)
_DISPLAY = Qt.ItemDataRole.DisplayRole


class PictureHeader(QHeaderView):
    """A QHeaderView (clickable, highlighting the selection's sections) that copies its sections from pictures.

    For a model whose header data is text only (no font, colour, alignment or
    icon): :meth:`section_text` gives each section's text.
    """

    def __init__(self, orientation: Qt.Orientation, parent=None):
        super().__init__(orientation, parent)
        self.setSectionsClickable(True)
        self.setHighlightSections(True)
        self._pictures: dict[tuple, QPixmap] = {}

    def section_text(self, section: int) -> str:
        """The text of ``section``, as the model's header data gives it."""
        text = self.model().headerData(section, self.orientation(), _DISPLAY)
        return "" if text is None else str(text)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if not self._paint_pictures(event.rect()):
            super().paintEvent(event)

    def _paint_pictures(self, area: QRect) -> bool:
        """Copy each section in ``area`` from its picture; False where QHeaderView must paint instead."""
        if (self.underMouse() or self.sectionsMoved() or self.sectionsHidden() or self.isSortIndicatorShown()
                or not self.isLeftToRight() or self.model() is None):
            return False
        vertical = self.orientation() == Qt.Orientation.Vertical
        first = self.visualIndexAt(area.top() if vertical else area.left())
        last = self.visualIndexAt(area.bottom() if vertical else area.right())
        if first < 0 or last < 0:
            return False  # beyond the last section: the style's empty area
        on, whole = self._selected_sections(vertical)
        viewport = self.viewport()
        breadth, last_section = viewport.width() if vertical else viewport.height(), self.count() - 1
        # What every section shares: anything that changes the style's drawing is part of each key.
        shared = (breadth, vertical, self.isActiveWindow(), self.isEnabled(), self.palette().cacheKey(),
                  self.font().key(), viewport.devicePixelRatioF(), self.defaultAlignment().value,
                  self.textElideMode().value)
        pictures, size_of, place_of = self._pictures, self.sectionSize, self.sectionViewportPosition
        painter = QPainter(viewport)
        for section in range(first, last + 1):
            size = size_of(section)
            position = (_ONLY if last_section == 0 else _BEGINNING if section == 0
                        else _END if section == last_section else _MIDDLE)
            key = (self.section_text(section), size, position, section in on, section in whole,
                   section - 1 in whole, section + 1 in whole, shared)
            picture = pictures.get(key)
            if picture is None:
                picture = self._draw_section(key, section, QSize(breadth, size) if vertical else QSize(size, breadth))
            if vertical:
                painter.drawPixmap(0, place_of(section), picture)
            else:
                painter.drawPixmap(place_of(section), 0, picture)
        painter.end()
        return True

    def _selected_sections(self, vertical: bool) -> tuple[set[int], set[int]]:
        """The sections the selection touches ("on": drawn bold) and those it fills ("selected")."""
        selection = self.selectionModel()
        if selection is None:
            return set(), set()
        root = QModelIndex()
        if vertical:
            touched = {row for span in selection.selection() for row in range(span.top(), span.bottom() + 1)}
            return ({row for row in touched if selection.rowIntersectsSelection(row, root)},
                    {row for row in touched if selection.isRowSelected(row, root)})
        touched = {column for span in selection.selection() for column in range(span.left(), span.right() + 1)}
        return ({column for column in touched if selection.columnIntersectsSelection(column, root)},
                {column for column in touched if selection.isColumnSelected(column, root)})

    def _draw_section(self, key: tuple, section: int, size: QSize) -> QPixmap:
        """A section drawn by the style with the options QHeaderView gives it when nothing hovers."""
        text, _size, position, on, whole, before, after = key[:7]
        option = QStyleOptionHeaderV2()
        self.initStyleOption(option)
        option.rect = QRect(0, 0, size.width(), size.height())
        option.section = section
        if self.isActiveWindow():
            option.state |= _ACTIVE
        if on:
            option.state |= _ON
        if whole:
            option.state |= _SUNKEN
        option.textAlignment = self.defaultAlignment()
        option.iconAlignment = Qt.AlignmentFlag.AlignVCenter
        option.text = text
        option.position = _POSITION(position)
        option.selectedPosition = (_SELECTED_POSITION.NextAndPreviousAreSelected if before and after
                                   else _SELECTED_POSITION.PreviousIsSelected if before
                                   else _SELECTED_POSITION.NextIsSelected if after
                                   else _SELECTED_POSITION.NotAdjacent)
        option.orientation = self.orientation()
        option.textElideMode = self.textElideMode()
        option.isSectionDragTarget = False
        viewport = self.viewport()
        ratio = viewport.devicePixelRatioF()
        picture = QPixmap(round(size.width() * ratio), round(size.height() * ratio))
        picture.setDevicePixelRatio(ratio)
        picture.fill(Qt.GlobalColor.transparent)
        painter = QPainter(picture)
        painter.fillRect(option.rect, viewport.palette().brush(viewport.backgroundRole()))
        painter.setFont(viewport.font())
        self.style().drawControl(QStyle.ControlElement.CE_Header, option, painter, self)
        painter.end()
        if len(self._pictures) > _CACHE_LIMIT:
            self._pictures = {}
        self._pictures[key] = picture
        return picture


class RowNumbers(PictureHeader):
    """The vertical header of the layer stack, as wide as its widest number.

    QHeaderView's own size hint asks the model for every section's text, font
    and alignment (five calls per row, a thousand on a 200-layer design) after
    each insert and each change of the selected row; the numbers' width is known.
    """

    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Vertical, parent)

    def section_text(self, section: int) -> str:
        model = self.model()
        if model is not None and hasattr(model, "row_number"):
            return model.row_number(section)  # its header data, without asking it through Qt
        return row_label(section)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        font = QFont(self.font())
        font.setBold(True)  # the selected row's number is drawn bold
        metrics = QFontMetrics(font)
        widest = max(metrics.horizontalAdvance("in"), metrics.horizontalAdvance(str(max(self.count() - 1, 0))))
        margin = self.style().pixelMetric(QStyle.PixelMetric.PM_HeaderMargin, None, self)
        width = widest + 2 * margin
        return QSize(width, self.length())


class ColumnTitles(PictureHeader):
    """The horizontal header of the layer stack (Layer, Settings, Output, Parameters)."""

    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)
