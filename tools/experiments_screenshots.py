"""Make the README's experiment screenshots: ``python tools/experiments_screenshots.py [OUT_DIR]``.

Runs the learning-rate finder and a 6-trial random sweep of the learning rate
and dropout p on the "Small and fast" preset with the built-in shapes, for real,
offscreen, and saves ``lr_finder.png`` (the finder's panel), ``sweep_table.png``
(the sweep panel: table and plots) and ``sweep_parallel.png`` (the
parallel-coordinates plot alone). Takes a few minutes on a laptop CPU.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

SIZE = (1280, 800)


def _wait(panel, timeout_s: float = 3600.0) -> None:
    loop = QEventLoop()
    panel.worker.finished.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    if panel.running:
        loop.exec()
    if panel.progress.format() != "Done":
        raise RuntimeError(f"{panel.title}: {panel.progress.format()} — {panel.message.text()}")


def _settle() -> None:
    for _ in range(5):
        QApplication.processEvents()
        time.sleep(0.05)


def _grab(widget, path: Path) -> None:
    _settle()
    widget.grab().save(str(path))
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "resources" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    runs = Path(tempfile.mkdtemp(prefix="convstudio-experiments-"))
    os.environ["CONVSTUDIO_RUNS"] = str(runs)
    app.setOrganizationName("ConvStudioScreenshots")
    for format_ in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(format_, QSettings.Scope.UserScope, str(runs / "settings"))

    from convstudio.core.presets import load_preset
    from convstudio.core.training.design_settings import with_training
    from convstudio.core.training.settings import TrainingSettings
    from convstudio.gui.shell.main_window import MainWindow

    settings = TrainingSettings(dataset="shapes", data_limit=3000, epochs=10, batch_size=64, device="cpu")
    design = with_training(load_preset("shapes_small"), settings)
    window = MainWindow(design, autosave_dir=runs / "autosave")
    window.resize(1400, 900)
    window.show()
    controller = window.experiments

    finder = controller.open_panel("lr_finder")
    finder.parentWidget().setFloating(True)
    finder.parentWidget().resize(*SIZE)
    finder.steps.setValue(300)
    finder.start()
    _wait(finder)
    _grab(finder, out / "lr_finder.png")

    sweep = controller.open_panel("sweep")
    sweep.parentWidget().setFloating(True)
    sweep.parentWidget().resize(*SIZE)
    sweep.vary.setText("lr=1e-4:3e-2:log, layers.11.p=0.1:0.6")  # layer 11: the preset's dropout
    sweep.trials.setValue(6)
    sweep.epochs.setValue(2)
    sweep.limit.setValue(1500)
    sweep.start()
    _wait(sweep)
    sweep.table.selectRow(0)
    _grab(sweep, out / "sweep_table.png")
    sweep.parallel.resize(1100, 420)
    _grab(sweep.parallel, out / "sweep_parallel.png")
    controller.shut_down()
    window.design_document.undo_stack.setClean()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
