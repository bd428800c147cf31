"""Starting the app: the QApplication, the first design, the main window."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication

from convstudio.core.design import Design, DesignFileError, load_design
from convstudio.core.presets import DEFAULT_PRESET, load_preset


def initial_design(design_path: str | None) -> tuple[Design, str | None, str | None]:
    """The design to open with, its file path, and an error message if the file could not be read.

    With no path, or an unreadable one, the app opens the CIFAR10 preset: it
    needs no download and shows the lecture's network at once.
    """
    if design_path is None:
        return load_preset(DEFAULT_PRESET), None, None
    try:
        return load_design(design_path), design_path, None
    except DesignFileError as error:
        return load_preset(DEFAULT_PRESET), None, str(error)


def run_app(design_path: str | None = None) -> int:
    """Open the main window and run the event loop until it closes."""
    from convstudio.gui.shell.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("ConvStudio")
    app.setOrganizationName("ConvStudio")
    design, path, problem = initial_design(design_path)
    window = MainWindow(design, path)
    window.show()
    if problem:
        window.warn("Cannot open design", f"{problem}\n\nOpened the CIFAR10 preset instead.")
    window.offer_recovery()
    return app.exec()
