"""What the panel screenshot scripts beside this file share (imported as ``screenshot_kit``: they run as scripts).

An offscreen QApplication whose runs and settings live in a fresh temporary
folder, so the user's runs and window placements are neither read nor
written; waiting for a panel's experiment; settling the event loop and saving
a widget as a PNG.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "resources" / "screenshots"


def isolated_app(prefix: str) -> tuple[QApplication, Path]:
    """The QApplication and a new temporary runs root (``CONVSTUDIO_RUNS``), holding the app's settings too."""
    app = QApplication.instance() or QApplication([])
    runs = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["CONVSTUDIO_RUNS"] = str(runs)
    # the user's settings are neither read (window placement) nor written
    app.setOrganizationName("ConvStudioScreenshots")
    for format_ in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(format_, QSettings.Scope.UserScope, str(runs / "settings"))
    return app, runs


def wait_for_worker(worker, timeout_s: float) -> None:
    """Run the event loop until ``worker`` (a gui.background worker) has finished, or for ``timeout_s``."""
    if not worker.running:
        return
    loop = QEventLoop()
    worker.finished.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()


def wait_for_panel(panel, timeout_s: float) -> None:
    """Run the event loop until the panel's experiment has finished; RuntimeError unless it is "Done"."""
    loop = QEventLoop()
    panel.worker.finished.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    if panel.running:
        loop.exec()
    if panel.progress.format() != "Done":
        raise RuntimeError(f"{panel.title}: {panel.progress.format()} — {panel.message.text()}")


def float_panel(panel, size: tuple[int, int]) -> None:
    """Float the panel's dock as a window of ``size``."""
    dock = panel.parentWidget()
    dock.setFloating(True)
    dock.resize(*size)


def settle() -> None:
    """Let pending layout and paint events run (a quarter of a second)."""
    for _ in range(5):
        QApplication.processEvents()
        time.sleep(0.05)


def grab(widget, path: Path) -> None:
    """Save ``widget`` as a PNG at ``path`` once the event loop has settled."""
    settle()
    widget.grab().save(str(path))
    print(f"wrote {path}")
