"""One pyqtgraph chart with the habits every live chart here shares.

- Curves are created once (:meth:`LiveChart.curve`) and afterwards only get
  ``setData`` (:meth:`LiveChart.set_data`) with the whole series.
  ``setDownsampling(auto=True, mode="peak")`` and ``setClipToView(True)`` leave
  pyqtgraph to draw only the visible part, cut to each bucket's minimum and
  maximum (spikes stay visible), so a long run costs about the same to draw as a
  short one (``python bench/chart_downsampling.py`` compares it with cutting the
  series by hand before ``setData``).
- 1-pixel cosmetic pens, no antialiasing, and no grid: translucent grid lines
  across the plot doubled the cost of each repaint (measured: 110 ms against
  55 ms for the six charts on this 2-core machine under load).
- Hovering shows the values of every curve at the step under the mouse, read
  from the full series (not from the points drawn).
- A button (and pyqtgraph's own context menu) saves the chart as a PNG.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # noqa: F401 - registers ImageExporter
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from convstudio.gui import theme

# A qualitative palette that reads on light and dark backgrounds (matplotlib's tab10).
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_LOG_FLOOR = 1e-12  # log axes cannot show zero


class DecadeAxis(pg.AxisItem):
    """A log axis that labels decades (or 1-2-5 steps within one) and leaves the 3, 4, 6... ticks unlabelled.

    pyqtgraph labels every 2..9 tick when a plot spans two or three decades,
    and the labels then overprint each other.
    """

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph's names
        if not self.logMode:
            return super().tickValues(minVal, maxVal, size)
        low, high = math.floor(minVal), math.ceil(maxVal)
        inside = [v + math.log10(m) for v in range(low, high + 1) for m in range(1, 10)
                  if minVal <= v + math.log10(m) <= maxVal]
        decades = [v for v in inside if abs(v - round(v)) < 1e-9]
        if len(decades) >= 2:
            labelled = decades
        else:  # within about one decade: 1, 2 and 5 of each
            labelled = [v for v in inside if round(10 ** (v - math.floor(v + 1e-9))) in (1, 2, 5)]
        return [(None, labelled), (None, [v for v in inside if v not in labelled])]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        if not self.logMode:
            return super().tickStrings(values, scale, spacing)
        return [f"{10 ** v:.3g}" for v in values]  # "10", "1", "0.001": not "10¹" beside "1"


def colour(index: int) -> str:
    """The ``index``-th curve colour."""
    return COLOURS[index % len(COLOURS)]


class LiveChart(QWidget):
    """A titled chart: curves by key, hover readout, PNG export. ``plot_widget`` carries ``object_name``."""

    export_requested = Signal(object)  # this chart, when its PNG button is pressed

    def __init__(self, title: str, object_name: str, y_label: str, log_y: bool = False,
                 y_limits: tuple[float, float] | None = None, y_from_zero: bool = False, parent=None):
        super().__init__(parent)
        self.setObjectName(f"{object_name}Box")
        self.log_y = log_y
        self.y_limits = y_limits  # a fixed y range (accuracy: 0 to 1)
        self.y_from_zero = y_from_zero  # the y range starts at 0 (learning rate)
        self.x_extent: float | None = None  # the run's length in steps, when known
        self._y_range: tuple[float, float] | None = None
        self._shown_range: tuple | None = None
        self._user_range = False
        palette = self.palette()
        axes = {"left": DecadeAxis("left")} if log_y else None
        self.plot_widget = pg.PlotWidget(background=palette.color(QPalette.ColorRole.Base), axisItems=axes)
        self.plot_widget.setObjectName(object_name)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setDownsampling(auto=True, mode="peak")
        self.plot.setClipToView(True)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", y_label)
        self.plot.setLogMode(y=log_y)
        self.plot.setMenuEnabled(True)
        text = palette.color(QPalette.ColorRole.WindowText)
        for axis in ("left", "bottom"):
            item = self.plot.getAxis(axis)
            item.setTextPen(text)
            item.setPen(pg.mkPen(theme.mix(text, palette.color(QPalette.ColorRole.Base), 0.5)))
            item.enableAutoSIPrefix(False)  # "accuracy (x0.001)" reads worse than the plain numbers
        if log_y:
            self.plot.getAxis("left").setStyle(maxTextLevel=0)  # labels on DecadeAxis's first level only
        self.legend = self.plot.addLegend(offset=(-6, 6), labelTextColor=text, labelTextSize="8pt", verSpacing=-6)
        backdrop = QColor(palette.color(QPalette.ColorRole.Base))
        backdrop.setAlpha(170)  # the curves stay visible behind the legend
        self.legend.setBrush(pg.mkBrush(backdrop))
        self.title_label = QLabel(f"<b>{title}</b>", self)
        self.readout = QLabel(self)
        self.readout.setObjectName(f"{object_name}Readout")
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.readout.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.export_button = QToolButton(self)
        self.export_button.setObjectName(f"{object_name}Export")
        self.export_button.setText("PNG")
        self.export_button.setToolTip(f"Save the {title.lower()} chart as a PNG image")
        self.export_button.clicked.connect(self._on_export_clicked)
        self.header = QHBoxLayout()
        self.header.setContentsMargins(4, 0, 4, 0)
        self.header.addWidget(self.title_label)
        self.header.addWidget(self.readout, 1)
        self.header.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(self.header)
        layout.addWidget(self.plot_widget, 1)
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._labels: dict[str, str] = {}
        # Each curve's series as given (no log floor): what the readout and the ranges read.
        self._series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._hover_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(text, width=1, style=Qt.PenStyle.DotLine))
        self._hover_line.hide()
        self.plot.addItem(self._hover_line, ignoreBounds=True)
        self._mouse_proxy = pg.SignalProxy(self.plot.scene().sigMouseMoved, rateLimit=30, slot=self._on_mouse_moved)
        self.plot.vb.sigRangeChangedManually.connect(self._on_range_changed_by_user)

    # -- curves ------------------------------------------------------------------
    def curve(self, key: str, label: str, colour_name: str, dashed: bool = False,
              symbol: str | None = None) -> pg.PlotDataItem:
        """The curve ``key``, created on first use (afterwards only its data changes)."""
        found = self._curves.get(key)
        if found is not None:
            return found
        style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
        pen = pg.mkPen(colour_name, width=1, style=style)
        pen.setCosmetic(True)
        options = dict(symbol=symbol, symbolSize=6, symbolBrush=colour_name, symbolPen=None) if symbol else {}
        item = self.plot.plot([], [], pen=pen, name=label, **options)
        self._curves[key] = item
        self._labels[key] = label
        return item

    def has_curve(self, key: str) -> bool:
        return key in self._curves

    def set_data(self, key: str, x: np.ndarray, y: np.ndarray) -> None:
        """Show ``(x, y)`` on curve ``key``: x increasing and evenly spaced, as pyqtgraph's downsampling presumes.

        The whole series goes to pyqtgraph, which draws only what is in view,
        cut to about five buckets per pixel (see the module's docstring).
        """
        self._series[key] = (x, y)
        if self.log_y:
            y = np.maximum(y, _LOG_FLOOR)
        self._curves[key].setData(x, y)

    def point_count(self, key: str) -> int:
        """How many data points curve ``key`` holds (drawn or not)."""
        x, _ = self._series.get(key, (None, None))
        return 0 if x is None else len(x)

    def drawn_point_count(self, key: str) -> int:
        """How many points pyqtgraph draws for curve ``key`` now (after clipping and downsampling)."""
        x, _ = self._curves[key].getData()
        return 0 if x is None else len(x)

    def remove_curves(self, keep=()) -> None:
        """Remove every curve except those in ``keep`` (a new run with other layers)."""
        for key in [key for key in self._curves if key not in keep]:
            item = self._curves.pop(key)
            self._labels.pop(key, None)
            self._series.pop(key, None)
            self.plot.removeItem(item)
            self.legend.removeItem(item)

    def clear_data(self) -> None:
        """Empty every curve, keeping the curves."""
        for item in self._curves.values():
            item.setData([], [])
        self._series.clear()
        self.readout.clear()

    # -- ranges ------------------------------------------------------------------
    def set_x_extent(self, steps: float | None) -> None:
        """Fix the x axis to 0..``steps`` (a live run's length), or None to fit the data; resets the y range."""
        self.x_extent = steps
        self._y_range = None
        self._user_range = False

    def update_ranges(self) -> None:
        """Fit the axes to the data, moving them only when the data leaves them (or fills a small part).

        pyqtgraph's auto-range moves the axes with every new point, and each move
        re-lays out the tick labels: most of a live chart's drawing cost. Until
        the user zooms or pans (afterwards, until "A" is pressed), the ranges are
        set here instead.
        """
        view = self.plot.vb
        if any(view.autoRangeEnabled()):
            self._user_range = False  # pyqtgraph's "A" button: the ranges are ours again
        if self._user_range:
            return
        x_high, low, high = self._data_bounds()
        if x_high is None:
            return
        x_range = (0, self.x_extent if self.x_extent else max(x_high, 1))
        y_range = self._next_y_range(low, high)
        if (x_range, y_range) != self._shown_range:
            self._shown_range = (x_range, y_range)
            view.setRange(xRange=x_range, yRange=y_range, padding=0)  # also switches auto-range off

    def _data_bounds(self) -> tuple[float | None, float, float]:
        """Largest x, and smallest and largest y (log10 on a log axis) over every curve."""
        x_high, lows, highs = None, [], []
        for xs, ys in self._series.values():
            if len(xs) == 0:
                continue
            x_high = max(x_high or 0.0, float(xs[-1]))
            ys = ys[np.isfinite(ys)]
            if self.log_y:
                ys = np.log10(ys[ys > 0])
            if len(ys):
                lows.append(float(ys.min()))
                highs.append(float(ys.max()))
        if not lows:
            return None, 0.0, 0.0
        return x_high, min(lows), max(highs)

    def _next_y_range(self, low: float, high: float) -> tuple[float, float]:
        if self.y_limits is not None:
            return self.y_limits
        if self.y_from_zero:
            low = 0.0
        span = high - low or max(abs(high) * 0.1, 0.1 if self.log_y else 1e-3)
        current = self._y_range
        if current is None or low < current[0] or high > current[1] or current[1] - current[0] > 2.5 * span:
            margin = 0.08 * span
            self._y_range = (low if self.y_from_zero else low - margin, high + margin)
        return self._y_range

    @Slot()
    def _on_range_changed_by_user(self, *_args) -> None:
        self._user_range = True

    # -- export ------------------------------------------------------------------
    def export_png(self, path: str) -> bool:
        """Write the chart to ``path`` as a PNG; False if it could not be written."""
        exporter = pg.exporters.ImageExporter(self.plot)
        exporter.parameters()["width"] = max(800, self.plot_widget.width())
        try:
            exporter.export(str(path))
        except OSError:
            return False
        return True

    @Slot()
    def _on_export_clicked(self) -> None:
        self.export_requested.emit(self)

    # -- hover ------------------------------------------------------------------
    def _on_mouse_moved(self, event) -> None:
        position = event[0]
        if not self.plot.sceneBoundingRect().contains(position):
            self._hover_line.hide()
            self.readout.clear()
            return
        x = self.plot.vb.mapSceneToView(position).x()
        self.show_values_at(x)

    def show_values_at(self, x: float) -> str:
        """Show (and return) the values of every curve at its data point nearest ``x``.

        The step shown is the first curve's; every value is a real data point
        of the full series, never a point of the downsampled drawing.
        """
        parts = []
        step = None
        for key in self._curves:  # in the legend's order
            xs, ys = self._series.get(key, ((), ()))
            if len(xs) == 0:
                continue
            index = int(np.clip(np.searchsorted(xs, x), 0, len(xs) - 1))
            if index > 0 and abs(xs[index - 1] - x) < abs(xs[index] - x):
                index -= 1
            step = xs[index] if step is None else step
            parts.append(f"{self._labels[key]} {ys[index]:.4g}")
        if step is None:
            self.readout.clear()
            return ""
        self._hover_line.setPos(step)
        self._hover_line.show()
        text = f"step {step:.0f}: " + ", ".join(parts)
        self.readout.setText(text)
        self.readout.setToolTip(text)
        return text
