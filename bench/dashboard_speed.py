"""Dashboard speed: training with the dashboard open and its charts live, against the headless engine.

Trains the same run twice per repeat, alternating: headless (``TrainingRun`` in
this process, nothing else running) and through the real main window, offscreen,
with the training dock raised and every chart live (started with the Start
button's slot, so the engine runs wherever the dashboard runs it: a child
process by default, ``--backend thread`` for a thread beside the GUI).

Speed is the engine's own measure in both cases: the images of every epoch over
the seconds of every epoch (validation included), from its EpochRecords. While
the dashboard trains, a 5 ms QTimer records how late each tick fires: the
GUI thread's stalls. Targets: ratio >= 0.95, longest stall <= 50 ms. It also
prints the GUI process's CPU use while steps arrive: on a two-core machine every
percent of a core the GUI takes is lost to training (torch uses both cores).

    python bench/dashboard_speed.py [--limit 6000] [--epochs 3] [--batch-size 32] [--repeats 3]
                                    [--backend process|thread] [--busy]

``PROBE_MS`` in the environment changes the probe's period (default 5 ms).
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

from convstudio.core.presets import load_preset  # noqa: E402
from convstudio.core.training.engine import TrainingRun  # noqa: E402
from convstudio.core.training.records import EpochRecord  # noqa: E402
from convstudio.core.training.settings import TrainingSettings  # noqa: E402

PROBE_MS = int(os.environ.get("PROBE_MS", "5"))


def epoch_speed(epochs: list[EpochRecord]) -> float:
    """Images per second over all epochs, as the engine measured them."""
    images = sum(record.images_per_second * record.seconds for record in epochs)
    seconds = sum(record.seconds for record in epochs)
    return images / seconds


def headless(design, settings: TrainingSettings, folder: Path) -> float:
    epochs = [record for record in TrainingRun(design, settings, folder).records() if isinstance(record, EpochRecord)]
    return epoch_speed(epochs)


class LatencyProbe:
    """A QTimer every PROBE_MS that records how late each tick comes (the GUI thread's stalls).

    With ``busy=True`` it also records the GUI thread's own CPU time between
    ticks: on a machine shared with other work a tick can be late because the
    process was not scheduled, and busy time tells that apart from work the GUI
    did. Off by default: reading a thread's CPU clock costs about 50 us here (no
    vDSO for it in this VM), 1-2% of a core at 200 ticks a second, which is
    itself a measurable share of the training it measures.
    """

    def __init__(self, busy: bool = False):
        from PySide6.QtCore import Qt, QTimer

        self.lateness: list[float] = []
        self.busy: list[float] = []
        self.recording = False
        self.window: tuple[float, float] | None = None  # (wall, GUI process CPU) when recording began
        self.gui_share = 0.0  # GUI process CPU seconds per wall second, first steps to last
        self._last = time.perf_counter()
        self.measure_busy = busy
        self._last_cpu = time.thread_time()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        cpu = time.thread_time() if self.measure_busy else 0.0
        if self.recording:
            self.lateness.append(max(0.0, now - self._last - PROBE_MS / 1000))
            self.busy.append(cpu - self._last_cpu)
        self._last, self._last_cpu = now, cpu

    def on_steps(self, _records) -> None:
        """Called with each list of steps: the GUI process's CPU share from the first list to the last."""
        now, cpu = time.perf_counter(), time.process_time()
        if self.window is None:
            self.window = (now, cpu)
        elif now > self.window[0]:
            self.gui_share = (cpu - self.window[1]) / (now - self.window[0])

    @staticmethod
    def _max_p99(values: list[float]) -> tuple[float, float]:
        ordered = sorted(values)
        return 1000 * ordered[-1], 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]

    def summary(self) -> tuple[float, float]:
        """(max, 99th percentile) lateness in milliseconds."""
        return self._max_p99(self.lateness)

    def busy_summary(self) -> tuple[float, float]:
        """(max, 99th percentile) of the GUI thread's CPU milliseconds between two ticks."""
        return self._max_p99(self.busy)


def dashboard(app, design, settings: TrainingSettings, folder: Path, backend: str,
              busy: bool = False) -> tuple[float, LatencyProbe, int]:
    from PySide6.QtCore import QEventLoop

    from convstudio.gui.shell.main_window import MainWindow
    from convstudio.core.training.design_settings import with_training

    window = MainWindow(with_training(design, settings), runs_root=folder,
                        autosave_dir=folder / "autosave", autosave_interval_ms=3_600_000)
    window.resize(1600, 1000)
    window.show()
    window.train_dock.raise_()
    panel = window.train_panel
    panel.worker.backend = backend
    epochs: list[EpochRecord] = []
    probe = LatencyProbe(busy)
    loop = QEventLoop()
    panel.worker.started.connect(lambda _record: setattr(probe, "recording", True))
    panel.worker.epoch.connect(epochs.append)
    panel.worker.steps.connect(probe.on_steps)
    panel.worker.ended.connect(lambda _record: setattr(probe, "recording", False))
    panel.worker.finished.connect(loop.quit)
    assert panel.start(), panel.message.text()
    loop.exec()
    probe.recording = False
    probe.timer.stop()
    points = panel.charts.loss_chart.point_count("loss")
    if panel.message.text():
        print("dashboard message:", panel.message.text())
    window.design_document.undo_stack.setClean()
    window.close()
    window.deleteLater()
    app.processEvents()
    return epoch_speed(epochs), probe, points


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=6000, help="training images (before the validation split)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", choices=["process", "thread"], default="process")
    parser.add_argument("--busy", action="store_true", help="also record the GUI thread's CPU time per tick")
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    design = load_preset("shapes_small")
    settings = TrainingSettings(dataset="shapes", data_limit=args.limit, epochs=args.epochs,
                                batch_size=args.batch_size, mc_samples=2, device="cpu")
    steps = args.epochs * -(-round(args.limit * 0.9) // args.batch_size)
    print(f"shapes_small on shapes (limit {args.limit}), {args.epochs} epochs of batch {args.batch_size} "
          f"(~{steps} steps); dashboard backend: {args.backend}; torch threads per process: default")
    ratios, speeds_h, speeds_d, stalls, p99s, busiest = [], [], [], [], [], []
    print(f"load average before: {', '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            base = Path(scratch) / str(repeat)
            speed_h = headless(design, settings, base / "headless")
            speed_d, probe, points = dashboard(app, design, settings, base / "dashboard", args.backend, args.busy)
            worst, p99 = probe.summary()
            busy, busy_p99 = probe.busy_summary()
            busiest.append(busy)
            ratios.append(speed_d / speed_h)
            speeds_h.append(speed_h)
            speeds_d.append(speed_d)
            stalls.append(worst)
            p99s.append(p99)
            print(f"repeat {repeat + 1}: headless {speed_h:7.1f} img/s | dashboard {speed_d:7.1f} img/s | "
                  f"ratio {speed_d / speed_h:.3f} | GUI lateness max {worst:5.1f} ms, p99 {p99:5.1f} ms "
                  f"({len(probe.lateness)} ticks)" + (f"; GUI thread busy between ticks max {busy:5.1f} ms, "
                  f"p99 {busy_p99:4.1f} ms" if args.busy else "") + f"; GUI process CPU "
                  f"{100 * probe.gui_share:.1f}% of a core | loss curve {points} points")
    print(f"median: headless {statistics.median(speeds_h):.1f} img/s, dashboard {statistics.median(speeds_d):.1f} img/s,"
          f" ratio {statistics.median(ratios):.3f} (target >= 0.95); GUI lateness max {max(stalls):.1f} ms"
          f" (target <= 50), p99 {statistics.median(p99s):.1f} ms"
          + (f"; GUI thread busy max {max(busiest):.1f} ms" if args.busy else ""))
    print(f"load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
