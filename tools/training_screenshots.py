"""Make the README's dashboard screenshots: ``python tools/training_screenshots.py [OUT_DIR]``.

Trains the "Small and fast" preset on the built-in shapes for real, offscreen,
through the training dock (floated to a fixed size), and saves
``dashboard_training.png`` during the third epoch and ``dashboard_results.png``
when the run has ended (default folder: ``resources/screenshots``). Takes about
two minutes on a laptop CPU.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

SIZE = (1600, 900)
SETTINGS = {"dataset": "shapes", "data_limit": 6000, "epochs": 5, "batch_size": 64, "learning_rate": 3e-3,
            "schedule": "cosine", "mc_samples": 10, "device": "cpu",
            "augmentation": {"flip": True, "rotate_degrees": 15.0, "brightness": 0.2}}


def _settle(app: QApplication, seconds: float) -> None:
    """Let timers, chart refreshes and repaints run for a while."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)


def _wait_for(app: QApplication, condition, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise RuntimeError("timed out waiting for the run")
        _settle(app, 0.1)


def main(out_dir: str | None = None) -> int:
    from convstudio.core.presets import load_preset
    from convstudio.core.training.settings import TrainingSettings
    from convstudio.gui.shell.main_window import MainWindow
    from convstudio.core.training.design_settings import with_training

    out = Path(out_dir or Path(__file__).resolve().parents[1] / "resources" / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("ConvStudioScreenshots")
    with tempfile.TemporaryDirectory() as scratch:
        design = with_training(load_preset("shapes_small"), TrainingSettings(**SETTINGS))
        window = MainWindow(design, runs_root=Path(scratch) / "runs", autosave_dir=Path(scratch) / "autosave")
        window.show()
        dock, panel = window.train_dock, window.train_panel
        dock.setFloating(True)
        dock.resize(*SIZE)
        dock.show()
        panel.settings_scroll.ensureWidgetVisible(panel.form.groups["Augmentation"])
        _wait_for(app, lambda: panel.preview.shown is not None, 60)
        if not panel.start():
            raise RuntimeError(panel.message.text())
        _wait_for(app, lambda: len(panel.curves.val_loss) >= 2 and len(panel.curves.loss) >= 235, 600)
        panel.charts.draw_all()  # every chart up to the same step, then let them paint
        _settle(app, 0.2)
        panel.grab().save(str(out / "dashboard_training.png"))
        loop = QEventLoop()
        panel.worker.finished.connect(loop.quit)
        QTimer.singleShot(900_000, loop.quit)
        if panel.running:
            loop.exec()
        if panel.message.text():
            raise RuntimeError(panel.message.text())
        _settle(app, 1.0)
        panel.grab().save(str(out / "dashboard_results.png"))
        window.design_document.undo_stack.setClean()
        window.close()
    print(f"saved dashboard_training.png and dashboard_results.png in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
