"""Designer recheck: time from an edit to shapes rechecked and the window redrawn, on 200 layers.

Drives the real main window offscreen with a 200-layer design and applies
edits the way a person does: a field change through the inspector's spin box,
an insert through the stack model's drop (from the palette's mime data), and
undo. Each timing runs from the edit to the end of
the event processing that follows it, in which the stack, inspector, summary
and diagram repaint (paint events are counted to prove it). The in-process baseline
is the bare ``core.shapes.infer_shapes`` on the same design.

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
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from convstudio.core.design import Design, InputSpec  # noqa: E402
from convstudio.core.layers import Activation, BatchNorm, Conv2d, Dropout, Flatten, Linear, MaxPool2d  # noqa: E402
from convstudio.core.shapes import infer_shapes  # noqa: E402


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


class PaintCounter(QObject):
    """Counts paint events of some widgets, to prove every timed edit was drawn."""

    def __init__(self, widgets: dict):
        super().__init__()
        self.counts = {name: 0 for name in widgets}
        self._names = {widget: name for name, widget in widgets.items()}
        for widget in widgets.values():
            widget.installEventFilter(self)

    def eventFilter(self, watched, event):  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Paint and watched in self._names:
            self.counts[self._names[watched]] += 1
        return False


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
    app.processEvents()
    window.layer_stack.select_row(1)  # conv1: its channel count changes every row below
    app.processEvents()

    painted = PaintCounter({"stack": window.layer_stack.viewport(), "diagram": window.diagram,
                            "summary": window.summary})

    def settle() -> None:
        # Posted events include the update requests: the views paint inside this call.
        app.processEvents()

    palette = window.palette_panel
    stack_model = window.layer_stack.stack_model
    middle = args.layers // 2

    def field_change(step: int) -> None:
        # Undo reselects conv1, and the inspector builds fresh editors for it.
        window.inspector.editors["out_channels"].setValue(48 - (step % 2) * 16)

    def insert(step: int) -> None:
        mime = palette.model.mimeData([palette.model.index_of_kind("dropout")])
        stack_model.dropMimeData(mime, Qt.DropAction.CopyAction, middle, 0, QModelIndex())

    def undo(step: int) -> None:
        window.undo_action.trigger()

    labels = ("field change (inspector)", "insert (drop)", "undo insert")
    wall: dict[str, list[float]] = {label: [] for label in labels}
    cpu: dict[str, list[float]] = {label: [] for label in labels}
    for step in range(args.repeats + 5):
        for label, edit in zip(labels, (field_change, insert, undo)):
            start, start_cpu = time.perf_counter(), time.process_time()
            edit(step)
            settle()
            if step >= 5:  # warm-up
                wall[label].append((time.perf_counter() - start) * 1000)
                cpu[label].append((time.process_time() - start_cpu) * 1000)
    assert len(window.design_document.design.layers) == args.layers
    edits = 3 * (args.repeats + 5)
    assert min(painted.counts.values()) >= edits, f"a view was not redrawn after every edit: {painted.counts}"

    bare, bare_cpu = [], []
    current = window.design_document.design
    for _ in range(args.repeats * 3):
        start, start_cpu = time.perf_counter(), time.process_time()
        infer_shapes(current)
        bare.append((time.perf_counter() - start) * 1000)
        bare_cpu.append((time.process_time() - start_cpu) * 1000)
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
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
