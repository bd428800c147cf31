"""The app's window shows before torch loads, and torch then loads in the background.

Start-up time itself is measured by ``bench/startup.py`` (a ratio to the bare
interpreter, not asserted here); these tests check the property that makes it
fast, in a fresh interpreter as a user's ``convstudio`` starts.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_SHOW_THEN_WAIT = """
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
seen = {}
def shown():
    windows = [w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow" and w.isVisible()]
    seen["shown"] = bool(windows)
    seen["torch_at_show"] = "torch" in sys.modules
    deadline = time.monotonic() + 120
    def poll():
        from convstudio.gui.training.settings_form import DeviceEditor
        editor = windows[0].findChild(DeviceEditor, "deviceChoice")
        warmed = "convstudio.core.builder" in sys.modules and editor.found is not None
        if warmed or time.monotonic() > deadline:
            seen["torch_later"] = "torch" in sys.modules
            seen["device_labels"] = [editor.itemText(i) for i in range(editor.count())]
            for window in windows:
                window.design_document.undo_stack.setClean()
            app.quit()
        else:
            QTimer.singleShot(50, poll)
    poll()
QTimer.singleShot(0, shown)
from convstudio.gui.shell.app import run_app
run_app()
print(seen)
"""


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_window_shows_before_torch_loads_and_torch_loads_after(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "CONVSTUDIO_RUNS": str(tmp_path / "runs"),
           "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", _SHOW_THEN_WAIT], env=env, capture_output=True, text=True,
                            timeout=170)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = eval(result.stdout.strip().splitlines()[-1])  # a dict literal printed by the child
    assert seen["shown"] is True
    assert seen["torch_at_show"] is False
    assert seen["torch_later"] is True
    # Once the devices were found in the background, the device editor names them.
    assert any(label.startswith("auto: ") for label in seen["device_labels"]), seen["device_labels"]
