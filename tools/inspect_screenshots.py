"""Screenshots of the Inspect dock: ``python tools/inspect_screenshots.py [OUT_DIR] [--run RUN_DIR]``.

Trains the CIFAR10 preset briefly on the built-in dataset (CPU, 3,000 images,
2 epochs: a few minutes on a laptop; ``--run`` reuses a run folder this script
trained before), opens that run in the Inspect view on a
test image, clicks a unit of a feature map, and shows the data browser. Writes
inspect_view.png, inspect_early_layer.png and inspect_data_browser.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

SIZE = (1500, 1000)
TEST_IMAGE = 7


def _wait(worker, timeout_s: float = 600.0) -> None:
    """Run the event loop until the worker's job has finished."""
    if not worker.running:
        return
    loop = QEventLoop()
    worker.finished.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()


def _grab(widget, path: Path) -> None:
    for _ in range(5):
        QApplication.processEvents()
        time.sleep(0.05)
    widget.grab().save(str(path))
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(Path(__file__).resolve().parents[1] / "resources" / "screenshots"))
    parser.add_argument("--run", help="a run folder of the CIFAR10 preset to inspect instead of training one")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    runs = Path(tempfile.mkdtemp(prefix="convstudio-inspect-"))
    os.environ["CONVSTUDIO_RUNS"] = str(runs)
    app.setOrganizationName("ConvStudioScreenshots")  # the user's settings are neither read nor written
    for format_ in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(format_, QSettings.Scope.UserScope, str(runs / "settings"))

    from convstudio.core.presets import load_preset
    from convstudio.core.training.design_settings import with_training
    from convstudio.core.training.engine import TrainingRun
    from convstudio.core.training.run_index import design_runs_folder
    from convstudio.core.training.settings import TrainingSettings
    from convstudio.gui.lab.datasets import run_data
    from convstudio.gui.shell.main_window import MainWindow

    settings = TrainingSettings(dataset="shapes", data_limit=3000, epochs=2, batch_size=64, device="cpu")
    design = with_training(load_preset("cifar10"), settings)
    run_dir = Path(args.run) if args.run else design_runs_folder(runs, design.name) / "20250101-120000"
    if not args.run:
        print("training the CIFAR10 preset on the built-in dataset…", flush=True)
        TrainingRun(design, settings, run_dir, data=run_data(settings), overwrite=True).run()

    window = MainWindow(design, autosave_dir=runs / "autosave", runs_root=runs)
    window.resize(1400, 900)
    window.show()
    tabs = window.inspect.show()
    window.inspect.dock.setFloating(True)
    window.inspect.dock.resize(*SIZE)
    panel, browser = window.inspect.panel, window.inspect.browser
    panel.use_run(run_dir)

    panel.test_index.setValue(TEST_IMAGE)
    panel.inspect(("test", TEST_IMAGE))
    _wait(panel.worker)
    panel.click_unit(2, 1)  # a unit near the top left of the last convolution's 4x4 map
    _wait(panel.worker)
    _grab(tabs, out / "inspect_view.png")

    # An early layer sees little: conv2's unit at the centre, its 7x7 field beside its effective field.
    panel.layer.setCurrentIndex(panel.layer.findData("conv2_relu"))
    panel.overlay.setCurrentIndex(1)  # saliency
    panel.sort_by_mean.setChecked(True)
    panel.layer.activated.emit(panel.layer.currentIndex())
    _wait(panel.worker)
    panel.click_unit(17, 17)
    _wait(panel.worker)
    _grab(tabs, out / "inspect_early_layer.png")

    tabs.setCurrentWidget(browser)
    browser.dataset.setCurrentText("shapes")
    browser.per_class.setValue(10)
    browser.load()
    _wait(browser.worker)
    _grab(tabs, out / "inspect_data_browser.png")

    window.inspect.shut_down()
    window.files.autosaver.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
