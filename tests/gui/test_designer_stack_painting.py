"""The layer stack's own painting gives Qt's pixels: rows, row numbers, column titles and scroll bar.

The stack paints its rows a row at a time (not a delegate call per cell), and
its headers and scroll bar copy pictures drawn once by the style
(:mod:`convstudio.gui.designer.stack_headers`, :mod:`~convstudio.gui.designer.stack_scroll_bar`).
Each is compared, pixel for pixel as the window shows it, with what Qt's own
painting gives in the same state: scrolled to the top, the middle and the end,
with the input, a layer or the last layer selected, with and without focus,
and with a failing layer (error and "affected" rows).
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QAbstractItemView, QApplication

from convstudio.core.design import Design, InputSpec
from convstudio.core.layers import Activation, BatchNorm, Conv2d, Dropout, Flatten, Linear, MaxPool2d
from convstudio.gui.designer.stack_headers import PictureHeader
from convstudio.gui.designer.stack_scroll_bar import StackScrollBar


def long_design(count: int = 120) -> Design:
    """Enough conv/bn/relu/dropout blocks to scroll, with a pooling and a classifier."""
    layers = []
    while len(layers) < count - 3:
        layers += [Conv2d(out_channels=16, kernel_size=3, padding=1), BatchNorm(), Activation(), Dropout(p=0.1)]
        if len(layers) == 20:
            layers.append(MaxPool2d(kernel_size=2))
    layers = layers[:count - 3] + [Flatten(), Linear(out_features=64), Linear(out_features=10, activation="none")]
    return Design(name="long", input=InputSpec(channels=3, height=32, width=32), layers=layers)


def on_screen(window, widget) -> QImage:
    """What the window shows of ``widget`` after it repaints."""
    widget.update()
    for _ in range(3):
        QApplication.processEvents()
    corner = widget.mapTo(window, QPoint(0, 0))
    shot = window.screen().grabWindow(window.winId(), corner.x(), corner.y(), widget.width(), widget.height())
    return shot.toImage().convertToFormat(QImage.Format.Format_RGB32)


@pytest.fixture
def stack_window(make_window):
    return make_window(long_design())


def states(window):
    """Scroll positions, selected rows and focus to compare in."""
    stack = window.layer_stack
    model = stack.stack_model
    last = model.rowCount() - 1
    for scroll, row in ((0, 0), (0, 2), (60, 61), (60, 58), (last, last)):
        for focused in (False, True):
            stack.scrollTo(model.index(scroll, 0), QAbstractItemView.ScrollHint.PositionAtCenter)
            stack.select_row(row)
            (stack if focused else window.inspector).setFocus()
            QApplication.processEvents()
            yield scroll, row, focused


def test_rows_are_painted_as_qt_paints_them(stack_window):
    window = stack_window
    stack = window.layer_stack
    viewport = stack.viewport()
    document = window.design_document
    checked = 0
    for design_state in ("valid", "failing"):
        if design_state == "failing":
            document.set_layer_field(20, "kernel_size", 99)  # the pooling fails: error and affected rows
        for state in states(window):
            ours = on_screen(window, viewport)
            stack.setState(QAbstractItemView.State.AnimatingState)  # QTableView paints itself in any other state
            try:
                qts = on_screen(window, viewport)
            finally:
                stack.setState(QAbstractItemView.State.NoState)
            assert ours == qts, (design_state, state)
            checked += 1
    assert checked == 20


def test_headers_and_scroll_bar_copy_exactly_what_the_style_draws(stack_window, monkeypatch):
    window = stack_window
    stack = window.layer_stack
    scroll_bar = stack.verticalScrollBar()
    assert isinstance(scroll_bar, StackScrollBar)
    parts = {"row numbers": stack.verticalHeader().viewport(), "column titles": stack.horizontalHeader().viewport(),
             "scroll bar": scroll_bar}
    for state in states(window):
        ours = {name: on_screen(window, widget) for name, widget in parts.items()}
        with monkeypatch.context() as patch:  # Qt's own painting
            patch.setattr(PictureHeader, "_paint_pictures", lambda self, area: False)
            patch.setattr(StackScrollBar, "_paint_with_pictures", lambda self: False)
            qts = {name: on_screen(window, widget) for name, widget in parts.items()}
        for name in parts:
            assert ours[name] == qts[name], (name, state)
    # Every handle position along the bar, as an insert or a removal moves it.
    for value in range(0, scroll_bar.maximum() + 1, 5):
        scroll_bar.setValue(value)
        ours = on_screen(window, scroll_bar)
        with monkeypatch.context() as patch:
            patch.setattr(StackScrollBar, "_paint_with_pictures", lambda self: False)
            assert on_screen(window, scroll_bar) == ours, value
    # The pictures were used, not Qt's painting every time.
    assert stack.verticalHeader()._pictures and stack.horizontalHeader()._pictures
    assert scroll_bar._grooves and scroll_bar._handles
