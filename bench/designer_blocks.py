"""Designer rows with blocks: what the stack's row bookkeeping costs per edit, against the bare shape check.

The document lays the stack's rows out after every edit (a plain design: no
row list at all; with blocks: a row per layer, part header and merge row) and
says which rows changed. This times that bookkeeping alone, and a whole edit
of the document without any view (edit, recheck, events, undo step), on a
200-layer plain design and on the ResNet-20 preset (blocks), each against
``core.shapes.infer_shapes`` of the same design in the same run; and, for
scale, the receptive fields the stack's last column computes per design.

    python bench/designer_blocks.py [--repeats 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QCoreApplication  # noqa: E402

from convstudio.core.presets import load_preset  # noqa: E402
from convstudio.core.shapes import infer_shapes  # noqa: E402
from convstudio.gui.designer.changes import LayerChanged, follow_path, top_level  # noqa: E402
from convstudio.gui.designer.document import DesignDocument  # noqa: E402
from convstudio.gui.designer.stack_rows import StackLayout, splice  # noqa: E402


def _median_ms(work, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _plain_design(count: int):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from designer_recheck import long_design

    return long_design(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args(argv)
    application = QCoreApplication.instance() or QCoreApplication([])  # the document is a QObject

    cases = (("plain, 200 layers", _plain_design(200), (0,)),
             ("resnet20 (blocks)", load_preset("resnet20"), (6, "body", 0)))
    print(f"Designer rows, {args.repeats} repeats, {os.cpu_count()} CPUs; medians in ms, 'x infer' against "
          "infer_shapes of the same design")
    print(f"{'':20s}{'rows':>6s}{'layout+splice':>15s}{'x infer':>9s}{'edit+undo':>11s}{'x infer':>9s}"
          f"{'infer_shapes':>14s}")
    for label, design, path in cases:
        infer = _median_ms(lambda: infer_shapes(design), args.repeats)
        document = DesignDocument(design)
        changes = (LayerChanged(path[-1], ("out_channels",), path[:-1]),)

        def bookkeeping() -> None:
            before = document.layout
            after = StackLayout(document.design, frozenset())
            splice(before, after) if not (before.flat and after.flat) else top_level(changes)
            follow_path(changes)

        rows = _median_ms(bookkeeping, args.repeats)
        values = iter([48, 32] * args.repeats)

        def edit_and_undo() -> None:
            document.set_field_at(path, "out_channels", next(values))
            document.undo_stack.undo()

        edit = _median_ms(edit_and_undo, args.repeats) / 2  # one edit, one undo: per step
        print(f"{label:20s}{len(document.layout):6d}{rows:13.3f}ms{rows / infer:9.2f}{edit:9.3f}ms"
              f"{edit / infer:9.2f}{infer:12.3f}ms")
    # For scale: the receptive-field column's computation, which the stack and inspector also run per edit.
    try:
        from convstudio.core.receptive_field import receptive_fields
    except ImportError:
        receptive_fields = None
    if receptive_fields is not None:
        for label, design, _path in cases:
            fields = _median_ms(lambda: receptive_fields(design), max(args.repeats // 4, 5))
            infer = _median_ms(lambda: infer_shapes(design), args.repeats)
            print(f"for scale, {label}: core.receptive_field.receptive_fields {fields:.3f} ms "
                  f"({fields / infer:.1f}x infer_shapes)")
    application.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
