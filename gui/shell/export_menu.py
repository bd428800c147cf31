"""File > Export: the open design or a trained run as PyTorch source, a program, ONNX or a summary.

The same formats as ``convstudio export`` (core.export.formats). The open design
exports untrained (the message says so); "From a trained run..." asks for a run
folder and exports its best weights. Exporting runs off the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog, QMenu

from convstudio.core.export.formats import FORMATS, SUFFIX_BY_FORMAT
from convstudio.core.jobs import JobFailed
from convstudio.gui.background import Worker

_TITLES = {
    "py": "PyTorch source (.py)...",
    "export": "torch.export program (.pt2)...",
    "torchscript": "TorchScript (.pt)...",
    "onnx": "ONNX (.onnx)...",
    "markdown": "Model summary, Markdown (.md)...",
    "summary": "Model summary, text (.txt)...",
}


class ExportActions(QObject):
    """The Export submenu of a main window and the background export it starts.

    Reads the design from ``document``; asks and tells the user through ``host``
    (a :class:`~convstudio.gui.shell.panel_host.PanelHost`). torch is imported
    when an export starts, not when the menu is built.
    """

    def __init__(self, document, host, parent: QObject | None = None):
        super().__init__(parent)
        self.setObjectName("exportActions")
        self.document = document
        self.host = host
        self.worker = Worker(self, what="export")
        self.worker.returned.connect(self._on_exported)
        self.worker.errored.connect(self._on_failed)
        self.last_message = ""

    def make_menu(self, parent_menu: QMenu) -> QMenu:
        """The submenu: one entry per format for the open design, and one for a trained run."""
        menu = parent_menu.addMenu("&Export")
        menu.setObjectName("menuExport")
        for fmt, title in _TITLES.items():
            action = menu.addAction(title, lambda fmt=fmt: self.export_design(fmt))
            action.setObjectName(f"actionExport_{fmt}")
            action.setToolTip(f"The open design, untrained: {FORMATS[fmt]}")
        menu.addSeparator()
        run_action = menu.addAction("From a trained run...", self._on_export_run_requested)
        run_action.setObjectName("actionExportRun")
        return menu

    def choose_path(self, fmt: str) -> str | None:
        """Where to write; tests replace this."""
        suffix = SUFFIX_BY_FORMAT[fmt]
        default = Path(self.document.path or "design").with_suffix(suffix).name
        return self.host.choose_save_path(default, f"{FORMATS[fmt]} (*{suffix})") or None

    def choose_run(self) -> str | None:
        """The run folder to export; tests replace this."""
        return QFileDialog.getExistingDirectory(self.host.dialog_parent(), "Run folder to export") or None

    def export_design(self, fmt: str, path: str | None = None) -> bool:
        """Export the open design (untrained) in ``fmt``; False when refused or cancelled."""
        from convstudio.core.builder import DesignShapeError, build_model
        from convstudio.core.export.run_source import ExportSource

        design = self.document.design
        try:
            model = build_model(design, seed=0)
        except DesignShapeError as error:
            self.host.warn("Cannot export", str(error))
            return False
        path = path or self.choose_path(fmt)
        if not path:
            return False
        source = ExportSource(design, model.eval(), None)
        return self._start(source, fmt, path)

    def export_run(self, run_dir: str, fmt: str, path: str) -> bool:
        """Export a run folder's best weights in ``fmt``."""
        from convstudio.core.export import ExportError
        from convstudio.core.export.run_source import load_export_source

        try:
            source = load_export_source(run_dir, "best")
        except ExportError as error:
            self.host.warn("Cannot export", str(error))
            return False
        return self._start(source, fmt, path)

    def _on_export_run_requested(self) -> None:
        run_dir = self.choose_run()
        if not run_dir:
            return
        path = self.host.choose_save_path(
            "model.py", ";;".join(f"{FORMATS[f]} (*{s})" for f, s in SUFFIX_BY_FORMAT.items()))
        if path:
            fmt = next((f for f, s in SUFFIX_BY_FORMAT.items() if path.endswith(s)), "py")
            self.export_run(run_dir, fmt, path)

    def _start(self, source, fmt: str, path: str) -> bool:
        from convstudio.core.export.formats import export_as

        if self.worker.running:
            self.host.warn("Export running", "An export is still running; wait for it to finish.")
            return False
        self.host.show_status(f"Exporting {source.describe()} to {path}...")
        self.worker.start(lambda job: (source, export_as(source, fmt, path)))
        return True

    @Slot(object)
    def _on_exported(self, outcome) -> None:
        source, result = outcome
        note = "" if source.trained else " (untrained weights: export a run for trained ones)"
        self.last_message = f"{result}{note}"
        self.host.show_status(self.last_message, 10_000)

    @Slot(object)
    def _on_failed(self, failure: JobFailed) -> None:
        self.last_message = failure.message
        self.host.warn("Export failed", failure.message)
