"""The layer stack's vertical scroll bar: groove and handle drawn once, then copied.

Every insert or removal of a layer changes the scroll bar's range, so its
handle moves or resizes and the whole bar is repainted. In the Fusion style
that repaint is two gradients, the groove the height of the bar and the
handle, which Qt's raster engine splits over its thread pool (about a
millisecond on a small machine, more than the rest of the edit's drawing).
Neither depends on the bar's value: the groove is drawn once per size and
state, over the background Qt paints under the bar, and so is the handle,
over the part of the groove that is the same all along (a band a little
taller than the handle, which the style's outline reaches into). A repaint
copies both and lets the style draw the arrows: what the style draws in one
go, pixel for pixel (``tests/gui/test_designer_stack_painting.py`` compares
them at every handle position).

Only where that is known to hold: the Fusion style, with the bar neither
hovered nor pressed (then QScrollBar paints itself, highlights included), a
solid background under it, and the handle away from the ends of the groove.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QScrollBar, QStyle, QStyleOptionSlider, QWidget

_GROOVE, _SLIDER = QStyle.SubControl.SC_ScrollBarGroove, QStyle.SubControl.SC_ScrollBarSlider
_ALL_BUT_GROOVE = QStyle.SubControl(QStyle.SubControl.SC_All.value & ~_GROOVE.value)
_ALL_BUT_GROOVE_AND_SLIDER = QStyle.SubControl(_ALL_BUT_GROOVE.value & ~_SLIDER.value)
_CACHE_LIMIT = 32  # grooves and handles kept: a few sizes and states
_HANDLE_MARGIN = 3  # px above and below the handle's rectangle that its picture covers


def background_under(widget: QWidget) -> QColor | None:
    """The solid colour Qt paints under ``widget`` (its own, or the nearest filled ancestor's); None when not solid."""
    while widget is not None:
        if widget.autoFillBackground() or widget.isWindow():
            brush: QBrush = widget.palette().brush(widget.backgroundRole())
            return brush.color() if brush.style() == Qt.BrushStyle.SolidPattern and brush.isOpaque() else None
        widget = widget.parentWidget()
    return None


class StackScrollBar(QScrollBar):
    """A QScrollBar that keeps pictures of its groove and handle (see the module's docstring)."""

    def __init__(self, orientation: Qt.Orientation, parent=None):
        super().__init__(orientation, parent)
        # Each groove's picture, and the rows (device pixels) along which it is the same all down:
        # a handle within them looks the same wherever it is.
        self._grooves: dict[tuple, tuple[QPixmap, tuple[int, int]]] = {}
        self._handles: dict[tuple, QPixmap] = {}

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if not self._paint_with_pictures():
            super().paintEvent(event)

    def _paint_with_pictures(self) -> bool:
        """Paint as QScrollBar does, groove and handle copied from pictures; False where QScrollBar must paint."""
        style = self.style()
        if (style.name().lower() != "fusion" or self.underMouse() or self.isSliderDown()
                or QApplication.mouseButtons() != Qt.MouseButton.NoButton):
            return False
        background = background_under(self)
        if background is None:
            return False
        option = QStyleOptionSlider()
        self.initStyleOption(option)
        option.activeSubControls = QStyle.SubControl.SC_None  # nothing hovered or pressed
        if style.styleHint(QStyle.StyleHint.SH_ScrollBar_Transient, option, self):
            return False
        key = (option.rect.width(), option.rect.height(), option.state.value, option.orientation.value,
               option.direction.value, self.palette().cacheKey(), background.rgba(), self.devicePixelRatioF())
        groove = self._grooves.get(key)
        if groove is None:
            groove = self._draw_groove(key, option, background)
        picture, (even_top, even_end) = groove
        painter = QPainter(self)
        painter.drawPixmap(0, 0, picture)
        rest = _ALL_BUT_GROOVE
        handle = style.subControlRect(QStyle.ComplexControl.CC_ScrollBar, option, _SLIDER, self)
        # The style draws the handle's outline a little beyond that rectangle: take a band around it.
        band = QRect(0, handle.top() - _HANDLE_MARGIN, self.width(), handle.height() + 2 * _HANDLE_MARGIN)
        ratio = self.devicePixelRatioF()
        if handle.isValid() and even_top <= round(band.top() * ratio) and round((band.bottom() + 1) * ratio) <= even_end:
            # On the even part of the groove the handle looks the same wherever it is: copy its picture.
            painter.drawPixmap(band.topLeft(), self._handle_picture(key, option, band, picture))
            rest = _ALL_BUT_GROOVE_AND_SLIDER
        option.subControls = rest
        style.drawComplexControl(QStyle.ComplexControl.CC_ScrollBar, option, painter, self)
        painter.end()
        return True

    def _draw_groove(self, key: tuple, option: QStyleOptionSlider, background: QColor) -> tuple:
        """The groove over ``background``, and the rows along which it is the same (see ``_grooves``)."""
        ratio = self.devicePixelRatioF()
        picture = QPixmap(round(self.width() * ratio), round(self.height() * ratio))
        picture.setDevicePixelRatio(ratio)
        picture.fill(background)
        painter = QPainter(picture)
        option = QStyleOptionSlider(option)
        option.subControls = _GROOVE
        self.style().drawComplexControl(QStyle.ComplexControl.CC_ScrollBar, option, painter, self)
        painter.end()
        track = self.style().subControlRect(QStyle.ComplexControl.CC_ScrollBar, option, _GROOVE, self)
        even = (0, 0)  # none: a horizontal bar's handle is drawn by the style every time
        if self.orientation() == Qt.Orientation.Vertical:
            even = _longest_even_run(picture.toImage(), round(track.top() * ratio), round((track.bottom() + 1) * ratio))
        if len(self._grooves) >= _CACHE_LIMIT:
            self._grooves, self._handles = {}, {}
        self._grooves[key] = groove = (picture, even)
        return groove

    def _handle_picture(self, key: tuple, option: QStyleOptionSlider, handle: QRect, groove: QPixmap) -> QPixmap:
        """The band ``handle`` of the groove with the handle drawn on it (the same at any place on an even groove)."""
        handle_key = (key, handle.width(), handle.height())
        picture = self._handles.get(handle_key)
        if picture is None:
            ratio = self.devicePixelRatioF()
            picture = groove.copy(round(handle.x() * ratio), round(handle.y() * ratio),
                                  round(handle.width() * ratio), round(handle.height() * ratio))
            picture.setDevicePixelRatio(ratio)
            painter = QPainter(picture)
            painter.translate(-handle.x(), -handle.y())
            option = QStyleOptionSlider(option)
            option.subControls = _SLIDER
            self.style().drawComplexControl(QStyle.ComplexControl.CC_ScrollBar, option, painter, self)
            painter.end()
            if len(self._handles) >= _CACHE_LIMIT:
                self._handles = {}
            self._handles[handle_key] = picture
        return picture


def _longest_even_run(image: QImage, top: int, end: int) -> tuple[int, int]:
    """The longest run of identical rows of ``image`` between rows ``top`` and ``end`` - 1, as (first, end)."""
    top, end = max(top, 0), min(end, image.height())
    bits, line = image.constBits(), image.bytesPerLine()
    best, start, previous = (0, 0), top, None
    for row in range(top, end):
        pixels = bytes(bits[row * line:(row + 1) * line])
        if pixels != previous:
            start, previous = row, pixels
        if row + 1 - start > best[1] - best[0]:
            best = (start, row + 1)
    return best
