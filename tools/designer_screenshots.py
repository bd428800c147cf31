"""Make the README's designer screenshots: ``python tools/designer_screenshots.py [OUT_DIR]``.

Opens the designer offscreen on the lecture's CIFAR10 preset and saves
``designer_cifar10.png`` (the window, first convolution selected),
``designer_invalid.png`` (conv6's kernel raised to 9, so conv7 no longer fits:
the stack, the inspector's explanation and its one-click fixes) and
``designer_diagram.png`` (the network diagram's own PNG export). With blocks,
on the ResNet-20 preset: ``designer_blocks.png`` (the stack with the first
stride-2 block expanded and the blocks after it collapsed), ``designer_merge.png``
(that block's projection shortcut removed, so the sum no longer works: its
merge row selected, the inspector explaining it with the one-click fix), and
``designer_diagram_blocks.png`` (the diagram's export of the stem, two residual
blocks and an Inception block: skip arcs and branches side by side). Default
folder: ``resources/screenshots``. Takes a few seconds.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

SIZE = (1400, 900)
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "resources" / "screenshots"


def _settle(app: QApplication, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def _isolate_settings(app: QApplication, scratch: Path) -> None:
    """Neither read nor write the user's window placement."""
    app.setOrganizationName("ConvStudioScreenshots")
    for format_ in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(format_, QSettings.Scope.UserScope, str(scratch / "settings"))


def _window(design, scratch: Path):
    from convstudio.gui.shell.main_window import MainWindow

    window = MainWindow(design, autosave_dir=scratch / "autosave", runs_root=scratch / "runs")
    window.resize(*SIZE)
    window.show()
    return window


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    from convstudio.core.presets import load_preset

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        _isolate_settings(app, scratch)
        preset = load_preset("cifar10")

        window = _window(preset, scratch)
        window.layer_stack.select_row(1)
        _settle(app)
        window.grab().save(str(out / "designer_cifar10.png"))
        print(f"wrote {out / 'designer_cifar10.png'}")
        window.diagram.export_png(str(out / "designer_diagram.png"))
        print(f"wrote {out / 'designer_diagram.png'}")
        window.close()

        # conv6 (the 13th layer) with a 9x9 kernel leaves a 2x2 map, too small for conv7's 3x3 kernel.
        layers = list(preset.layers)
        convs = [i for i, layer in enumerate(layers) if layer.kind == "conv2d"]
        conv6, conv7 = convs[5], convs[6]
        layers[conv6] = layers[conv6].model_copy(update={"kernel_size": 9})
        broken = preset.model_copy(update={"layers": layers})
        window = _window(broken, scratch)
        window.layer_stack.select_row(conv7 + 1)  # row 0 is the input
        _settle(app)
        window.grab().save(str(out / "designer_invalid.png"))
        print(f"wrote {out / 'designer_invalid.png'}")
        window.close()
        _block_screenshots(app, scratch, out)
    return 0


def _block_screenshots(app: QApplication, scratch: Path, out: Path) -> None:
    """The stack with blocks, the inspector at a broken merge, and the diagram with skip arcs and branches."""
    from convstudio.core.presets import load_preset
    from convstudio.gui.designer.stack_rows import LAYER, MERGE

    resnet = load_preset("resnet20")
    blocks = [index for index, layer in enumerate(resnet.layers) if layer.kind == "residual"]
    first_down = next(index for index in blocks if resnet.layers[index].shortcut)  # stage 2's first block

    def show_stack(window, focus: int) -> None:
        window.resize(SIZE[0], 1000)  # room for the block's rows and the inspector's explanation
        window.resizeDocks([window.diagram_dock], [300], Qt.Orientation.Vertical)
        document = window.design_document
        for index in blocks:  # the blocks other than the one shown, collapsed: the stack fits the window
            if index != focus:
                document.set_collapsed((index,), True)

    window = _window(resnet, scratch)
    show_stack(window, first_down)
    document = window.design_document
    window.layer_stack.select_row(document.layout.number_of((LAYER, (first_down, "body", 0))))
    _settle(app)
    window.grab().save(str(out / "designer_blocks.png"))
    print(f"wrote {out / 'designer_blocks.png'}")
    window.close()

    # The same block without its projection shortcut: 32x16x16 from the body, 16x32x32 from the identity.
    layers = list(resnet.layers)
    layers[first_down] = layers[first_down].model_copy(update={"shortcut": []})
    window = _window(resnet.model_copy(update={"layers": layers}), scratch)
    show_stack(window, first_down)
    document = window.design_document
    window.layer_stack.select_row(document.layout.number_of((MERGE, (first_down,))))
    window.layer_stack.scrollTo(window.layer_stack.stack_model.index(document.selected_row, 0))
    _settle(app)
    window.grab().save(str(out / "designer_merge.png"))
    print(f"wrote {out / 'designer_merge.png'}")
    window.close()

    # A short network for the diagram: the stem, an identity block, a projection block, an Inception block.
    inception = next(layer for layer in load_preset("inception_small").layers if layer.kind == "concat")
    head = [layer for layer in resnet.layers[blocks[-1] + 1:]]
    short = resnet.model_copy(update={"name": "Blocks in the diagram", "layers": [
        *resnet.layers[:blocks[0] + 1], resnet.layers[first_down], inception, *head]})
    window = _window(short, scratch)
    _settle(app)
    window.diagram.export_png(str(out / "designer_diagram_blocks.png"))
    print(f"wrote {out / 'designer_diagram_blocks.png'}")
    window.close()


if __name__ == "__main__":
    sys.exit(main())
