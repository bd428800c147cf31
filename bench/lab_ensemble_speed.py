"""Lab ensemble speed: the app's Ensemble panel (its worker process) against the headless core, same ensemble.

Each repeat trains the same ensemble twice, alternating: headless
(:func:`core.lab.ensembles.train_ensemble` in this process, nothing else
running) and through the real main window, offscreen, with the Lab menu's
Ensemble panel (started with its Run button's slot, so the members train
wherever the panel trains them: a child process, or ``--backend thread`` for a
thread beside the GUI, as the lab did before).

Speed is the engine's own measure in both cases: the images of every epoch of
every member over the seconds of those epochs (validation included), from the
EpochRecords. Torch uses ``--threads`` threads in both (a child takes its
parent's count). Also printed: the wall time from start to result, which for
the app includes starting the child process (importing torch) and generating
the data there. Target: ratio (worker process / headless) >= 0.95, best of the
repeats (interference from other work only slows a run).

``--gui-load F`` keeps the GUI thread busy in Python for a fraction F of the
time while the app trains (live charts elsewhere in the window, say): a thread
beside the GUI then waits for the GIL, a child process does not.

    python bench/lab_ensemble_speed.py [--members 2] [--epochs 2] [--limit 3000] [--batch-size 64]
                                       [--repeats 3] [--threads 1] [--backend process|thread] [--gui-load 0.5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from convstudio.core.lab.ensembles import train_ensemble  # noqa: E402
from convstudio.core.presets import load_preset  # noqa: E402
from convstudio.core.training.records import EpochRecord  # noqa: E402
from convstudio.core.training.settings import TrainingSettings  # noqa: E402


def epoch_speed(epochs: list[EpochRecord]) -> float:
    """Images per second over all epochs, as the engine measured them."""
    images = sum(record.images_per_second * record.seconds for record in epochs)
    return images / sum(record.seconds for record in epochs)


def headless(design, settings: TrainingSettings, members: int, folder: Path) -> tuple[float, float]:
    """(images/s, wall seconds) of the ensemble trained here, with no GUI."""
    epochs: list[EpochRecord] = []
    started = time.perf_counter()
    train_ensemble(design, settings, members, runs_root=folder,
                   on_record=lambda _member, record: epochs.append(record) if isinstance(record, EpochRecord) else None)
    return epoch_speed(epochs), time.perf_counter() - started


def busy_gui(load: float, period_ms: int = 20):
    """A GUI-thread timer that spins in Python for ``load`` of every period (None when ``load`` is 0)."""
    from PySide6.QtCore import QTimer

    if load <= 0:
        return None

    def spin() -> None:
        until = time.perf_counter() + load * period_ms / 1000
        while time.perf_counter() < until:
            pass

    timer = QTimer()
    timer.timeout.connect(spin)
    timer.start(period_ms)
    return timer


def through_the_app(app, design, settings: TrainingSettings, members: int, folder: Path,
                    backend: str, gui_load: float = 0.0) -> tuple[float, float]:
    """(images/s, wall seconds) of the same ensemble trained from the Ensemble panel of the main window."""
    from PySide6.QtCore import QEventLoop

    from convstudio.gui.lab import LabController, install_lab_menu
    from convstudio.gui.shell.main_window import MainWindow
    from convstudio.core.training.design_settings import with_training

    window = MainWindow(with_training(design, settings), runs_root=folder,
                        autosave_dir=folder / "autosave", autosave_interval_ms=3_600_000)
    window.resize(1400, 900)
    window.show()
    install_lab_menu(window)
    panel = window.findChild(LabController, "labController").open_panel("ensemble")
    panel.members.setValue(members)
    panel.epochs.setValue(settings.epochs)
    panel.limit.setValue(settings.data_limit)
    panel.seed.setValue(settings.seed)
    panel.worker.backend = backend
    epochs: list[EpochRecord] = []
    panel.worker.yielded.connect(lambda item: epochs.append(item[1]) if isinstance(item[1], EpochRecord) else None)
    loop = QEventLoop()
    panel.worker.finished.connect(loop.quit)
    started = time.perf_counter()
    assert panel.start(), panel.message.text()
    load = busy_gui(gui_load)
    loop.exec()
    wall = time.perf_counter() - started
    if load is not None:
        load.stop()
    if panel.progress.format() != "Done":
        raise RuntimeError(f"the panel says {panel.progress.format()}: {panel.message.text()}")
    window.design_document.undo_stack.setClean()
    window.close()
    window.deleteLater()
    app.processEvents()
    return epoch_speed(epochs), wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=3000, help="training images (before the validation split)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, here and in the child")
    parser.add_argument("--backend", choices=["process", "thread"], default="process",
                        help="where the panel trains (process: the app's way)")
    parser.add_argument("--gui-load", type=float, default=0.0,
                        help="fraction of the time the GUI thread spins in Python while the app trains")
    args = parser.parse_args()

    import torch
    from PySide6.QtWidgets import QApplication

    torch.set_num_threads(args.threads)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    design = load_preset("shapes_small")
    settings = TrainingSettings(dataset="shapes", data_limit=args.limit, epochs=args.epochs,
                                batch_size=args.batch_size, mc_samples=2, device="cpu", seed=0)
    print(f"shapes_small on shapes (limit {args.limit}), {args.members} members x {args.epochs} epochs of batch "
          f"{args.batch_size}; panel backend: {args.backend}; torch threads: {args.threads}; "
          f"GUI load: {args.gui_load:.0%}")
    print(f"load average before: {', '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    speeds_h, speeds_a, ratios = [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            base = Path(scratch) / str(repeat)
            speed_h, wall_h = headless(design, settings, args.members, base / "headless")
            speed_a, wall_a = through_the_app(app, design, settings, args.members, base / "app", args.backend,
                                              args.gui_load)
            speeds_h.append(speed_h)
            speeds_a.append(speed_a)
            ratios.append(speed_a / speed_h)
            print(f"repeat {repeat + 1}: headless {speed_h:7.1f} img/s ({wall_h:5.1f} s wall) | app {args.backend} "
                  f"{speed_a:7.1f} img/s ({wall_a:5.1f} s wall) | ratio {speed_a / speed_h:.3f}")
    best_h, best_a = max(speeds_h), max(speeds_a)
    print(f"best of {args.repeats}: headless {best_h:.1f} img/s, app ({args.backend}) {best_a:.1f} img/s, "
          f"ratio {best_a / best_h:.3f} (target >= 0.95); median ratio {statistics.median(ratios):.3f}")
    print(f"load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
