"""Screenshots of the Inspect dock: ``python tools/inspect_screenshots.py [OUT_DIR] [--run RUN_DIR]``.

Trains the CIFAR10 preset briefly on the built-in dataset (CPU, 3,000 images,
2 epochs: a few minutes on a laptop; ``--run`` reuses a run folder this script
trained before), opens that run in the Inspect view on a
test image, clicks a unit of a feature map, and shows the data browser. Writes
inspect_view.png, inspect_early_layer.png and inspect_data_browser.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from screenshot_kit import DEFAULT_OUT, grab, isolated_app, wait_for_worker

SIZE = (1500, 1000)
TEST_IMAGE = 7
TIMEOUT_S = 600.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(DEFAULT_OUT))
    parser.add_argument("--run", help="a run folder of the CIFAR10 preset to inspect instead of training one")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _app, runs = isolated_app("convstudio-inspect-")

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
    wait_for_worker(panel.worker, TIMEOUT_S)
    panel.click_unit(2, 1)  # a unit near the top left of the last convolution's 4x4 map
    wait_for_worker(panel.worker, TIMEOUT_S)
    grab(tabs, out / "inspect_view.png")

    # An early layer sees little: conv2's unit at the centre, its 7x7 field beside its effective field.
    panel.layer.setCurrentIndex(panel.layer.findData("conv2_relu"))
    panel.overlay.setCurrentIndex(1)  # saliency
    panel.sort_by_mean.setChecked(True)
    panel.layer.activated.emit(panel.layer.currentIndex())
    wait_for_worker(panel.worker, TIMEOUT_S)
    panel.click_unit(17, 17)
    wait_for_worker(panel.worker, TIMEOUT_S)
    grab(tabs, out / "inspect_early_layer.png")

    tabs.setCurrentWidget(browser)
    browser.dataset.setCurrentText("shapes")
    browser.per_class.setValue(10)
    browser.load()
    wait_for_worker(browser.worker, TIMEOUT_S)
    grab(tabs, out / "inspect_data_browser.png")

    window.inspect.shut_down()
    window.files.autosaver.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
