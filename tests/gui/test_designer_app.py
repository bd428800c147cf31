"""Starting the app, the theme's colours, and the launcher."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox

from convstudio.gui import theme


def _luminance(color: QColor) -> float:
    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.redF()) + 0.7152 * channel(color.greenF()) + 0.0722 * channel(color.blueF())


def contrast(first: QColor, second: QColor) -> float:
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize(("window", "text"), [("#f0f0f0", "#101010"), ("#2b2b2b", "#e6e6e6")])
def test_error_colour_is_readable_on_light_and_dark_palettes(window, text):
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Window, QColor(window))
    palette.setColor(QPalette.ColorRole.Base, QColor(window))
    palette.setColor(QPalette.ColorRole.WindowText, QColor(text))
    error = theme.error_color(palette)
    assert contrast(error, QColor(window)) >= 4.5  # WCAG AA for normal text
    assert theme.is_dark(palette) == (window == "#2b2b2b")


def test_message_boxes_are_scripted_in_tests():
    with pytest.raises(AssertionError, match="unexpected message box"):
        QMessageBox.warning(None, "title", "text")


def test_run_app_opens_the_file_or_says_why_not(monkeypatch, tmp_path):
    from convstudio.gui.shell import app as app_module
    from convstudio.gui.shell.main_window import MainWindow

    shown = {}
    warnings = []

    def fake_exec(_self=None):
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())
        shown["design"] = window.design_document.design
        shown["path"] = window.design_document.path
        window.design_document.undo_stack.setClean()
        window.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", fake_exec)
    monkeypatch.setattr(MainWindow, "warn", lambda self, title, text: warnings.append(text))
    monkeypatch.setattr(MainWindow, "offer_recovery", lambda self: False)
    good = tmp_path / "good.json"
    from convstudio.core.presets import load_preset

    good.write_text(load_preset("lenet").to_json())
    assert app_module.run_app(str(good)) == 0
    assert shown["design"] == load_preset("lenet") and shown["path"] == str(good)
    assert warnings == []
    assert app_module.run_app(str(tmp_path / "missing.json")) == 0
    assert shown["design"] == load_preset("cifar10") and "no such file" in warnings[0]


def test_switching_to_a_dark_palette_recolours_the_errors(make_window, qapp):
    from convstudio.core.design import Design, InputSpec
    from convstudio.core.layers import Conv2d

    window = make_window(Design(input=InputSpec(channels=1, height=4, width=4),
                                layers=[Conv2d(out_channels=2, kernel_size=5)]))
    window.layer_stack.select_row(1)
    model = window.layer_stack.stack_model
    light = qapp.palette()
    dark = QPalette(light)
    for role, color in ((QPalette.ColorRole.Window, "#2b2b2b"), (QPalette.ColorRole.Base, "#1e1e1e"),
                        (QPalette.ColorRole.WindowText, "#e6e6e6"), (QPalette.ColorRole.Text, "#e6e6e6")):
        dark.setColor(role, QColor(color))
    try:
        qapp.setPalette(dark)
        qapp.processEvents()
        expected = theme.error_color(dark).name()
        assert model.data(model.index(1, 0), 9).name() == expected  # ForegroundRole
        assert expected in window.inspector.problem.text()
        status = window.summary.values["status"]
        assert status.palette().color(QPalette.ColorRole.WindowText).name() == expected
    finally:
        qapp.setPalette(light)
