"""Plot and colour helpers the lab panels share: themed pyqtgraph plots, verdict colours, image pixmaps.

Every plot takes its background and text colours from the system palette (see
:mod:`gui.theme`), so the panels read on light and dark themes alike; curves
use a qualitative palette (matplotlib's tab10) that reads on both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPalette, QPixmap
from PySide6.QtWidgets import QApplication

from convstudio.gui import theme

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
LOG_FLOOR = 1e-17  # a log axis cannot show 0; an exact match is drawn at this error instead


def colour(index: int) -> str:
    """The ``index``-th curve colour."""
    return COLOURS[index % len(COLOURS)]


def pass_color(palette: QPalette | None = None) -> QColor:
    """A green readable on the palette's base colour (the pass verdict)."""
    return QColor("#7ee787") if theme.is_dark(palette) else QColor("#1a7f37")


def wash(color: QColor, alpha: int = 48) -> QColor:
    """``color`` made translucent, for a row background that keeps its text readable."""
    washed = QColor(color)
    washed.setAlpha(alpha)
    return washed


def text_color() -> QColor:
    return QApplication.palette().color(QPalette.ColorRole.WindowText)


def pen(colour_name: str | QColor, dashed: bool = False, width: float = 1.5):
    """A cosmetic pen (its width in pixels, whatever the zoom)."""
    style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
    made = pg.mkPen(colour_name, width=width, style=style)
    made.setCosmetic(True)
    return made


def reference_pen():
    """The pen of a reference line (Var = 1, a perfectly calibrated diagonal): the text colour, dotted."""
    return pg.mkPen(theme.mix(text_color(), QApplication.palette().color(QPalette.ColorRole.Base), 0.35),
                    width=1, style=Qt.PenStyle.DotLine)


# where a plot's legend sits: pyqtgraph offsets, positive from the left / top, negative from the right / bottom
LEGEND_CORNERS = {"top-right": (-6, 6), "top-left": (6, 6), "bottom-right": (-6, -6), "bottom-left": (6, -6)}


def lab_plot(title: str, x_label: str, y_label: str, *, log_x: bool = False, log_y: bool = False,
             object_name: str = "", legend: str | None = "top-right") -> pg.PlotWidget:
    """A pyqtgraph plot in the palette's colours, with axis labels, a title and a legend in the corner named.

    ``legend=None``: no legend inside the plot (several plots that share one use :func:`legend_html`).
    """
    palette = QApplication.palette()
    text = palette.color(QPalette.ColorRole.WindowText)
    widget = pg.PlotWidget(background=palette.color(QPalette.ColorRole.Base))
    widget.setObjectName(object_name)
    widget.setMinimumSize(220, 170)
    plot = widget.getPlotItem()
    plot.setTitle(title, color=theme.hex_color(text), size="10pt")
    plot.setLabel("bottom", x_label)
    plot.setLabel("left", y_label)
    plot.setLogMode(x=log_x, y=log_y)
    plot.showGrid(x=True, y=True, alpha=0.15)
    for axis in ("left", "bottom"):
        item = plot.getAxis(axis)
        item.setTextPen(text)
        item.setPen(pg.mkPen(theme.mix(text, palette.color(QPalette.ColorRole.Base), 0.5)))
        item.enableAutoSIPrefix(False)
    if log_y:
        plot.getAxis("left").setStyle(maxTextLevel=0)  # decades only: minor log labels crowd each other
    if legend is not None:
        added = plot.addLegend(offset=LEGEND_CORNERS[legend], labelTextColor=text, labelTextSize="8pt")
        backdrop = QColor(palette.color(QPalette.ColorRole.Base))
        backdrop.setAlpha(190)
        added.setBrush(pg.mkBrush(backdrop))
    return widget


def clear_plot(widget: pg.PlotWidget) -> None:
    """Remove every item and legend entry (a new result replaces the old one)."""
    plot = widget.getPlotItem()
    plot.clear()
    if plot.legend is not None:
        plot.legend.clear()


def category_ticks(widget: pg.PlotWidget, names: Sequence[str]) -> None:
    """Label x = 0, 1, ... with ``names`` (layer names along the network)."""
    widget.getPlotItem().getAxis("bottom").setTicks([[(i, name) for i, name in enumerate(names)], []])


def log_ticks(widget: pg.PlotWidget, values: Sequence[float]) -> None:
    """Label a log x axis at exactly ``values`` (T = 1, 2, 5, 10, ...): its own minor labels crowd each other."""
    ticks = [(float(np.log10(v)), f"{v:g}") for v in values if v > 0]
    widget.getPlotItem().getAxis("bottom").setTicks([ticks, []])


GLYPHS = {"solid": "━━", "dashed": "╍╍", "dotted": "┈┈", "marker": "■", "bar": "▇"}


def legend_html(entries: Sequence[tuple[str, str, str]]) -> str:
    """One line of rich text naming what several plots share: (colour, label, style) each.

    ``style`` is a key of :data:`GLYPHS`: "solid", "dashed" or "dotted" line, "marker" or "bar".
    """
    parts = [f"<span style='color:{name}; font-weight:bold'>{GLYPHS[style]}</span>&nbsp;{label}"
             for name, label, style in entries]
    return "&nbsp;&nbsp;&nbsp; ".join(parts)


def floored(values: Sequence[float], floor: float = LOG_FLOOR) -> np.ndarray:
    """``values`` as floats with zeros (and anything below ``floor``) raised to ``floor``, for a log axis."""
    array = np.asarray(values, dtype=float)
    return np.where(np.isfinite(array), np.maximum(array, floor), np.nan)


def image_pixmap(image: torch.Tensor | np.ndarray, size: int = 64) -> QPixmap:
    """A QPixmap of a uint8 C x H x W image (1 or 3 channels), scaled to ``size`` pixels, blocky."""
    array = image.numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    array = np.ascontiguousarray(array.astype(np.uint8))
    channels, height, width = array.shape
    if channels == 1:
        data = np.ascontiguousarray(array[0])
        qimage = QImage(data.data, width, height, width, QImage.Format.Format_Grayscale8)
    else:
        data = np.ascontiguousarray(np.transpose(array[:3], (1, 2, 0)))
        qimage = QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    pixmap = QPixmap.fromImage(qimage.copy())  # copy: the numpy buffer goes away
    return pixmap.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
