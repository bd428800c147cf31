"""Designer recheck: time from an edit to shapes rechecked and the window redrawn, on 200 layers.

Drives the real main window offscreen with a 200-layer design and applies
edits the way a person does: a field change of conv1 through the inspector's
spin box, an insert through the stack model's drop (from the palette's mime
data) in the middle of the stack, and undo. Before each edit, untimed, the
window is put where a person making it has it: conv1 selected for the field
change, the stack scrolled to the drop's row for the insert (selection is view
state, not an undo step, so undo no longer brings conv1 back). Each timing runs
from the edit until the window has settled: events are processed, pass after
pass, until a pass delivers none (one pass is not enough: a table view lays its
rows out on a zero timer and posts its repaint from there). In that time the
views repaint what changed (paint events are counted and printed; the stack
must repaint after every edit, the diagram after every field change, whose
volume is in view). Timing starts once the start-up work on background
threads is done (the device search imports PyTorch after the window shows).
The in-process baseline is the bare ``core.shapes.infer_shapes`` on the same
design, timed between the edits (the designer itself rechecks with
``core.shapes.recheck``, which gives the same report from the layers an edit
reaches; undo and redo bring back reports already found).

    python bench/designer_recheck.py [--layers 200] [--repeats 60]
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

from PySide6.QtCore import QCoreApplication, QEvent, QModelIndex, QObject, QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QAbstractItemView, QApplication, QMessageBox  # noqa: E402

from convstudio.core.design import Design, InputSpec  # noqa: E402
from convstudio.core.layers import Activation, BatchNorm, Conv2d, Dropout, Flatten, Linear, MaxPool2d  # noqa: E402
from convstudio.core.shapes import infer_shapes  # noqa: E402


MAX_PASSES = 20  # event-processing passes allowed for the window to settle after an edit


def long_design(count: int) -> Design:
    """A valid CNN of exactly ``count`` layers: conv/bn/relu/dropout blocks, a few poolings, a classifier head."""
    body = count - 3
    layers = []
    pools_left = 5
    while len(layers) < body:
        block = [Conv2d(out_channels=32, kernel_size=3, padding=1), BatchNorm(), Activation(), Dropout(p=0.1)]
        if pools_left and len(layers) % 40 == 36:
            block.append(MaxPool2d(kernel_size=2))
            pools_left -= 1
        layers.extend(block[: body - len(layers)])
    layers += [Flatten(), Linear(out_features=256), Linear(out_features=10, activation="none")]
    return Design(name=f"{count}-layer benchmark", input=InputSpec(channels=3, height=64, width=64), layers=layers)


class EventWatch(QObject):
    """Counts the events the application delivers, to tell when the window has settled."""

    def __init__(self):
        super().__init__()
        self.seen = 0

    def eventFilter(self, watched, event):  # noqa: N802 - Qt's name
        self.seen += 1
        return False


class PaintCounter(QObject):
    """Counts paint events of some views (each a widget or a list of widgets), to prove the timed edits were drawn."""

    def __init__(self, views: dict):
        super().__init__()
        self.counts = {name: 0 for name in views}
        self._names = {}
        for name, widgets in views.items():
            for widget in widgets if isinstance(widgets, list) else [widgets]:
                self._names[widget] = name
                widget.installEventFilter(self)

    def eventFilter(self, watched, event):  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Paint and watched in self._names:
            self.counts[self._names[watched]] += 1
        return False


def let_start_up_work_finish(app: QApplication, window, settle_s: float = 1.0, timeout_s: float = 120.0) -> None:
    """Process events until the window's background workers are done (untimed).

    After the window shows, the device search loads PyTorch on a thread: a
    second or more in which the GUI thread shares the interpreter with an
    import. Edits are timed afterwards, as a person makes them once the app is
    up. ``settle_s``: at least this long, so that jobs started by a timer have begun.
    """
    from convstudio.gui.background import Worker

    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        app.processEvents()
        busy = any(worker.running for worker in window.findChildren(Worker))
        if not busy and time.monotonic() - start >= settle_s:
            return
        time.sleep(0.01)


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=60, help="edits of each kind")
    args = parser.parse_args(argv)

    app = QApplication.instance() or QApplication([])
    scratch = tempfile.mkdtemp(prefix="convstudio-bench-")
    QCoreApplication.setOrganizationName("ConvStudioBench")
    QCoreApplication.setApplicationName("designer-recheck")
    for format_ in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(format_, QSettings.Scope.UserScope, scratch)

    from convstudio.gui.shell.main_window import MainWindow

    design = long_design(args.layers)
    assert infer_shapes(design).valid and len(design.layers) == args.layers
    window = MainWindow(design, None, autosave_dir=Path(scratch) / "autosave")
    window.ask = lambda *a, **k: QMessageBox.StandardButton.Discard
    window.resize(1400, 900)
    window.show()
    let_start_up_work_finish(app, window)
    window.layer_stack.select_row(1)  # conv1: its channel count changes every row below
    app.processEvents()

    painted = PaintCounter({"stack": window.layer_stack.viewport(), "diagram": window.diagram,
                            "summary": list(window.summary.values.values())})

    watch = EventWatch()
    most_passes = [0]

    def settle() -> None:
        # Work done in one pass can post more (a delayed layout's repaint): pass until one is idle.
        # The first pass always runs; the watch (a Python call per event) counts only later ones.
        app.processEvents()
        app.installEventFilter(watch)
        for passes in range(2, MAX_PASSES + 1):
            watch.seen = 0
            app.processEvents()
            if not watch.seen:
                break
        app.removeEventFilter(watch)
        most_passes[0] = max(most_passes[0], passes)

    palette = window.palette_panel
    stack_model = window.layer_stack.stack_model
    middle = args.layers // 2

    def show_conv1() -> None:
        window.layer_stack.select_row(1)  # conv1: its channel count changes the rows of its block

    def field_change(step: int) -> None:
        window.inspector.editors["out_channels"].setValue(48 - (step % 2) * 16)

    def show_drop_row() -> None:
        # A person drops where they look: the drop's row in the middle of the stack's view.
        window.layer_stack.scrollTo(stack_model.index(middle, 0), QAbstractItemView.ScrollHint.PositionAtCenter)

    def insert(step: int) -> None:
        mime = palette.model.mimeData([palette.model.index_of_kind("dropout")])
        stack_model.dropMimeData(mime, Qt.DropAction.CopyAction, middle, 0, QModelIndex())

    def undo(step: int) -> None:
        window.undo_action.trigger()

    labels = ("field change (inspector)", "insert (drop)", "undo insert")
    steps = tuple(zip(labels, (show_conv1, show_drop_row, None), (field_change, insert, undo)))
    wall: dict[str, list[float]] = {label: [] for label in labels}
    cpu: dict[str, list[float]] = {label: [] for label in labels}
    paints: dict[str, dict[str, int]] = {label: dict.fromkeys(painted.counts, 0) for label in labels}
    unpainted: dict[str, list[str]] = {label: [] for label in labels}
    bare, bare_cpu = [], []
    current = window.design_document.design
    for step in range(args.repeats + 5):
        for label, prepare, edit in steps:
            if prepare is not None:
                prepare()
                settle()
            before = dict(painted.counts)
            start, start_cpu = time.perf_counter(), time.process_time()
            edit(step)
            settle()
            if step >= 5:  # warm-up
                wall[label].append((time.perf_counter() - start) * 1000)
                cpu[label].append((time.process_time() - start_cpu) * 1000)
                for view, count in painted.counts.items():
                    paints[label][view] += count - before[view] > 0
            if painted.counts["stack"] == before["stack"]:
                unpainted[label].append("stack")
            if label.startswith("field") and painted.counts["diagram"] == before["diagram"]:
                unpainted[label].append("diagram")
        for _ in range(3):
            start, start_cpu = time.perf_counter(), time.process_time()
            infer_shapes(current)
            if step >= 5:
                bare.append((time.perf_counter() - start) * 1000)
                bare_cpu.append((time.process_time() - start_cpu) * 1000)
    assert len(window.design_document.design.layers) == args.layers
    assert not any(unpainted.values()), f"a view that shows the change was not redrawn: {unpainted}"
    bare_median = _stats(bare)[0]

    print(f"Designer recheck, {args.layers} layers, {args.repeats} edits each, "
          f"platform {app.platformName()}, window {window.width()}x{window.height()}, {os.cpu_count()} CPUs")
    print("wall: edit -> shapes rechecked -> views repainted; cpu: this process's CPU time over the same span")
    print(f"{'':26s}{'wall median':>12s}{'wall p95':>10s}{'cpu median':>12s}{'x infer':>9s}")
    every_wall, every_cpu = [], []
    rows = [(label, wall[label], cpu[label]) for label in labels]
    for label in labels:
        every_wall += wall[label]
        every_cpu += cpu[label]
    rows.append(("all edits", every_wall, every_cpu))
    for label, samples, cpu_samples in rows:
        median, p95 = _stats(samples)
        print(f"{label:26s}{median:10.2f}ms{p95:8.2f}ms{_stats(cpu_samples)[0]:10.2f}ms{median / bare_median:9.1f}")
    bare_p95 = _stats(bare)[1]
    bare_cpu_median = _stats(bare_cpu)[0]
    print(f"{'bare infer_shapes (core)':26s}{bare_median:10.2f}ms{bare_p95:8.2f}ms{bare_cpu_median:10.2f}ms{1.0:9.1f}")
    print(f"event-processing passes until the window settled: at most {most_passes[0]} (idle pass included)")
    print(f"edits after which each view repainted (of {args.repeats}):")
    for label in labels:
        print(f"  {label:24s}" + "  ".join(f"{view} {count}" for view, count in paints[label].items()))
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
