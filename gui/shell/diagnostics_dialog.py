"""Help > Diagnostics: the ``convstudio doctor`` report for this machine, with a button that copies it.

The report is built by :mod:`convstudio.core.diagnostics.report` on a
background thread (it asks PyTorch and the NVIDIA driver, which can take a
second); the dialog shows "Checking this machine…" until then. The Qt section
describes the running app's platform, since its window evidently opened.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout

from convstudio.gui.background import create_worker

CHECKING = "Checking this machine…"


def build_diagnostics(job, runs_root: Path | None, platform: str):
    """The report and its text, as a background job (imports torch; may run nvidia-smi)."""
    from convstudio.core.diagnostics.qt_platform import running_window
    from convstudio.core.diagnostics.report import build_report
    from convstudio.core.diagnostics.report_text import report_text

    report = build_report(runs_root=runs_root, window=running_window(platform))
    return report, report_text(report)


class DiagnosticsDialog(QDialog):
    """The doctor report as monospaced text, a one-line verdict, and Copy and Close buttons."""

    def __init__(self, runs_root: Path | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName("diagnosticsDialog")
        self.setWindowTitle("Diagnostics — ConvStudio")
        self.report = None
        layout = QVBoxLayout(self)
        self.verdict = QLabel(CHECKING, self)
        self.verdict.setObjectName("diagnosticsVerdict")
        self.verdict.setWordWrap(True)
        layout.addWidget(self.verdict)
        self.text = QPlainTextEdit(self)
        self.text.setObjectName("diagnosticsText")
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setPlainText(CHECKING)
        layout.addWidget(self.text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.copy_button = QPushButton("&Copy", self)
        self.copy_button.setObjectName("diagnosticsCopy")
        self.copy_button.setToolTip("Copy the report to the clipboard, for a bug report")
        self.copy_button.setEnabled(False)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy_report)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(900, 660)
        self.worker = create_worker(build_diagnostics, runs_root, QGuiApplication.platformName(), parent=self,
                                    what="diagnostics", connect={"returned": self._on_report,
                                                                 "errored": self._on_failed})

    @Slot(object)
    def _on_report(self, result) -> None:
        self.report, text = result
        self.text.setPlainText(text)
        problems = len(self.report.problems)
        self.verdict.setText("Everything ConvStudio needs works here." if not problems else
                             f"{problems} problem{'s' if problems > 1 else ''} found: the fixes are at the end.")
        self.copy_button.setEnabled(True)

    @Slot(object)
    def _on_failed(self, failure) -> None:
        message = f"The check failed: {failure.message}"
        self.verdict.setText(message)
        self.text.setPlainText(f"{message}\n\n{failure.details}".strip())
        self.copy_button.setEnabled(True)

    @Slot()
    def copy_report(self) -> None:
        """Put the report's text on the clipboard."""
        QGuiApplication.clipboard().setText(self.text.toPlainText())
        self.copy_button.setText("Copied")
        self.copy_button.setToolTip("The report is on the clipboard")

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if event.matches(event.StandardKey.Copy) and not self.text.textCursor().hasSelection():
            self.copy_report()  # Ctrl+C with nothing selected copies the whole report
            return
        super().keyPressEvent(event)
