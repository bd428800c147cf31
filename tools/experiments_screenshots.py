"""Make the README's experiment screenshots: ``python tools/experiments_screenshots.py [OUT_DIR]``.

Runs the learning-rate finder and a 6-trial random sweep of the learning rate
and dropout p on the "Small and fast" preset with the built-in shapes, for real,
offscreen, and saves ``lr_finder.png`` (the finder's panel), ``sweep_table.png``
(the sweep panel: table and plots) and ``sweep_parallel.png`` (the
parallel-coordinates plot alone). Takes a few minutes on a laptop CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

from screenshot_kit import DEFAULT_OUT, float_panel, grab, isolated_app, wait_for_panel

SIZE = (1280, 800)
TIMEOUT_S = 3600.0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    _app, runs = isolated_app("convstudio-experiments-")

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
    float_panel(finder, SIZE)
    finder.steps.setValue(300)
    finder.start()
    wait_for_panel(finder, TIMEOUT_S)
    grab(finder, out / "lr_finder.png")

    sweep = controller.open_panel("sweep")
    float_panel(sweep, SIZE)
    sweep.vary.setText("lr=1e-4:3e-2:log, layers.11.p=0.1:0.6")  # layer 11: the preset's dropout
    sweep.trials.setValue(6)
    sweep.epochs.setValue(2)
    sweep.limit.setValue(1500)
    sweep.start()
    wait_for_panel(sweep, TIMEOUT_S)
    sweep.table.selectRow(0)
    grab(sweep, out / "sweep_table.png")
    sweep.parallel.resize(1100, 420)
    grab(sweep.parallel, out / "sweep_parallel.png")
    controller.shut_down()
    window.design_document.undo_stack.setClean()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
