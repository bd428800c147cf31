"""Colours taken from the system palette, so dark and light themes both read well.

Nothing here hard-codes a light-only colour: each colour is either a palette
role or chosen from two variants by whether the palette is dark.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication


def current_palette() -> QPalette:
    """The application's palette (follows the system theme)."""
    return QApplication.palette()


def is_dark(palette: QPalette | None = None) -> bool:
    """True when the window background is darker than its text."""
    palette = palette or current_palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < palette.color(
        QPalette.ColorRole.WindowText
    ).lightness()


def error_color(palette: QPalette | None = None) -> QColor:
    """A red readable on the palette's base colour: deep red on light, soft red on dark."""
    return QColor("#ff7b72") if is_dark(palette) else QColor("#b3261e")


def affected_color(palette: QPalette | None = None) -> QColor:
    """Text colour of rows whose input is unknown because an earlier layer fails."""
    palette = palette or current_palette()
    return palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)


def error_background(palette: QPalette | None = None) -> QColor:
    """A faint red wash for the failing row that keeps the text readable."""
    color = QColor(error_color(palette))
    color.setAlpha(48)
    return color


def mix(first: QColor, second: QColor, amount: float) -> QColor:
    """``first`` moved ``amount`` (0..1) of the way towards ``second``."""
    return QColor.fromRgbF(
        first.redF() + (second.redF() - first.redF()) * amount,
        first.greenF() + (second.greenF() - first.greenF()) * amount,
        first.blueF() + (second.blueF() - first.blueF()) * amount,
    )


def hex_color(color: QColor) -> str:
    """``#rrggbb`` for rich text."""
    return color.name(QColor.NameFormat.HexRgb)
