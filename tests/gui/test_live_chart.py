"""A live chart draws a long curve cut to its width (spikes kept) and reads hover values from the full series."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

from convstudio.gui.charts.live_chart import LiveChart

POINTS = 100_000


@pytest.fixture
def chart(qtbot):
    """A shown loss chart, 500 pixels wide, with one curve ``loss`` labelled "batch"."""
    widget = LiveChart("Loss", "lossPlot", "cross-entropy")
    qtbot.addWidget(widget)
    widget.resize(500, 300)
    widget.show()
    qtbot.waitExposed(widget)
    widget.curve("loss", "batch", "#7f7f7f")
    return widget


def show(chart: LiveChart, x: np.ndarray, y: np.ndarray) -> None:
    chart.set_data("loss", x, y)
    chart.update_ranges()  # fixes the ranges (auto-range off): clipping to the view applies, as in a run
    QApplication.processEvents()  # the axes' new labels settle the plot's layout


def test_a_long_curve_is_drawn_cut_to_the_width_keeping_spikes_and_order(chart):
    x = np.arange(POINTS, dtype=float)
    y = np.sin(x / 300)
    y[31_337] = 40.0
    y[50_000] = -40.0
    y[70_000] = np.nan
    show(chart, x, y)
    drawn_x, drawn_y = chart.plot.listDataItems()[0].getData()
    width = chart.plot.vb.width()
    # pyqtgraph's peak downsampling: about five buckets per pixel, each its minimum and maximum.
    assert 0 < len(drawn_x) <= 2 * 5 * width * 1.25 and np.all(np.diff(drawn_x) >= 0)
    assert np.nanmax(drawn_y) == 40.0 and np.nanmin(drawn_y) == -40.0
    assert chart.point_count("loss") == POINTS and chart.drawn_point_count("loss") == len(drawn_x)
    show(chart, x[:500], y[:500])
    assert chart.drawn_point_count("loss") == 500  # fewer points than pixels: every one is drawn


def test_hovering_shows_the_exact_value_of_the_step_under_the_mouse(chart, qtbot):
    x = np.arange(1, POINTS + 1, dtype=float)
    y = np.random.default_rng(0).uniform(1.0, 2.0, POINTS)
    step = 43_210
    y[step - 1] = 1.23456  # neither the smallest nor the largest of its neighbours: no decimated point holds it
    show(chart, x, y)
    assert chart.drawn_point_count("loss") < POINTS / 10  # many more points than pixels
    assert 1.23456 not in chart.plot.listDataItems()[0].getData()[1]
    scene_position = chart.plot.vb.mapViewToScene(QPointF(step, 1.5))
    chart.plot.scene().sigMouseMoved.emit(scene_position)
    expected = f"step {step}: batch 1.235"
    qtbot.waitUntil(lambda: chart.readout.text() == expected, timeout=2000)
    assert chart.show_values_at(step + 0.4) == expected and chart.show_values_at(step - 0.4) == expected
    assert chart.show_values_at(step + 1) != expected
