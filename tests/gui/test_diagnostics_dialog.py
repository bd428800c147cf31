"""Help > Diagnostics shows the doctor report and copies it; the device list says why a GPU is not offered."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QGuiApplication

from convstudio.core.diagnostics.gpu import GpuProblem
from convstudio.gui.shell.diagnostics_dialog import DiagnosticsDialog
from convstudio.gui.training.settings_form import DeviceEditor


def test_help_diagnostics_shows_the_report_and_copies_it(make_window, qtbot):
    window = make_window()
    action = window.findChild(QAction, "actionDiagnostics")
    assert action in window.help_menu.actions()
    action.trigger()
    dialog = window.findChild(DiagnosticsDialog, "diagnosticsDialog")
    assert dialog.isVisible()
    assert not dialog.copy_button.isEnabled()  # nothing to copy while the check runs
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=60_000)
    text = dialog.text.toPlainText()
    for title in ("Training devices", "Window (Qt)", "Data folder", "Runs folder"):
        assert title in text
    # The app's window is open: the report describes the platform it runs on, and its runs folder.
    assert f"platform: {QGuiApplication.platformName()} (from the running app)" in text
    assert str(window.train_panel.runs_root) in text
    assert dialog.report.qt["window_can_open"] is True
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == text
    assert dialog.copy_button.text() == "Copied"
    dialog.close()


def test_the_device_list_says_why_a_gpu_is_not_offered(make_window, qtbot):
    window = make_window()
    editor = window.findChild(DeviceEditor, "deviceChoice")
    qtbot.waitUntil(lambda: editor.found is not None, timeout=60_000)  # the real search, then a simulated one
    problem = GpuProblem("the system has an NVIDIA GPU (RTX 4090) but PyTorch 2.5.0+cpu is a CPU-only build",
                         "python -m pip install --force-reinstall torch torchvision --index-url "
                         "https://download.pytorch.org/whl/cu124", "PyTorch is a CPU-only build")
    editor.show_devices([("cpu", "CPU (4 threads)")], problem)
    cuda = editor.findData("cuda")
    assert editor.itemText(cuda) == "CUDA GPU: not usable, PyTorch is a CPU-only build"
    assert not editor.model().item(cuda).isEnabled()
    assert "whl/cu124" in editor.itemData(cuda, Qt.ItemDataRole.ToolTipRole)
    assert "A GPU is not offered" in editor.toolTip()
    # Without a GPU problem, an absent CUDA GPU reads as before.
    editor.show_devices([("cpu", "CPU (4 threads)")])
    assert editor.itemText(cuda) == "cuda (not found)"
    assert not editor.itemData(cuda, Qt.ItemDataRole.ToolTipRole)
