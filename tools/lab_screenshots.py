"""Make the README's lab screenshots: ``python tools/lab_screenshots.py [OUT_DIR] [EXPERIMENT...]``.

Runs every lab panel for real on the "Small and fast" preset (dropout raised to
0.5, so the two dropout rules differ visibly) with the built-in shapes, offscreen,
and saves each panel as ``lab_<experiment>.png`` once its experiment has
finished (default: ``resources/screenshots``; experiments: all, or those named
of gradcheck, signal, dropout, ensemble, remedies). Takes a few minutes on a
laptop CPU: the dropout, ensemble and remedies panels train real runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from screenshot_kit import DEFAULT_OUT, float_panel, grab, isolated_app, wait_for_panel

SIZE = (1280, 800)
TIMEOUT_S = 900.0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else DEFAULT_OUT
    wanted = set(argv[1:]) or {"gradcheck", "signal", "dropout", "ensemble", "remedies"}
    out.mkdir(parents=True, exist_ok=True)
    _app, runs = isolated_app("convstudio-lab-")

    from convstudio.core.design import Design
    from convstudio.core.presets import load_preset
    from convstudio.core.training.engine import TrainingRun
    from convstudio.core.training.run_index import design_runs_folder
    from convstudio.core.training.settings import TrainingSettings
    from convstudio.gui.lab import LabController, install_lab_menu
    from convstudio.gui.lab.datasets import run_data
    from convstudio.gui.shell.main_window import MainWindow
    from convstudio.core.training.design_settings import with_training

    preset = load_preset("shapes_small")
    layers = [layer.model_copy(update={"p": 0.5}) if layer.kind == "dropout" else layer for layer in preset.layers]
    settings = TrainingSettings(dataset="shapes", data_limit=2000, epochs=6, batch_size=64, learning_rate=3e-3,
                                device="cpu")
    design = with_training(Design.model_validate(preset.model_copy(update={"layers": layers}).model_dump()), settings)
    run_dir = design_runs_folder(runs, design.name) / "20250101-120000"
    if "dropout" in wanted:
        print("training a run for the dropout lab…")
        TrainingRun(design, settings, run_dir, data=run_data(settings), overwrite=True).run()

    window = MainWindow(design, autosave_dir=runs / "autosave", runs_root=runs)
    window.resize(1400, 900)
    window.show()
    install_lab_menu(window)
    lab = window.findChild(LabController, "labController")

    def remedies(panel) -> None:
        panel.set_chosen({"baseline", "dropout", "batch norm", "augmentation", "L2 0.001"})
        panel.epochs.setValue(12)
        panel.limit.setValue(1000)

    setups = {
        "gradcheck": lambda panel: panel.entries.setValue(4),
        "signal": lambda panel: panel.batch_norm.setCurrentIndex(2),  # kept and removed
        "dropout": lambda panel: panel.limit.setValue(0),  # every test image
        "ensemble": lambda panel: (panel.members.setValue(5), panel.epochs.setValue(2), panel.limit.setValue(2000)),
        "remedies": remedies,
    }
    for key, setup in setups.items():
        if key not in wanted:
            continue
        panel = lab.open_panel(key)
        setup(panel)
        panel.start()
        wait_for_panel(panel, TIMEOUT_S)
        float_panel(panel, SIZE)
        grab(panel, out / f"lab_{key}.png")

    lab.shut_down()
    window.files.autosaver.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
