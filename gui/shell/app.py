"""Starting the app: the QApplication, the first design, the main window."""

from __future__ import annotations

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from convstudio.core.design import Design, DesignFileError, load_design
from convstudio.core.paths import APPLICATION, ORGANISATION
from convstudio.core.presets import DEFAULT_PRESET, load_preset
from convstudio.gui.background import create_worker

WARM_UP_DELAY_MS = 300  # after the window's first paint


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


def warm_up(job) -> None:
    """Import what the first training run or lab experiment needs (a background job)."""
    import convstudio.core.builder  # noqa: F401  (torch and the model builder)
    import convstudio.core.data.datasets  # noqa: F401  (torchvision)


EXIT_NO_WINDOW = 2


def run_app(design_path: str | None = None, check_platform: bool = True) -> int:
    """Open the main window and run the event loop until it closes.

    Before the QApplication is created, ``check_platform`` checks that Qt can
    open a window here (a display, the platform plugin's libraries); when it
    cannot, a short message names what is missing and the exit status is 2.
    """
    if check_platform and QApplication.instance() is None:
        from convstudio.core.diagnostics.qt_platform import startup_problem

        problem = startup_problem()
        if problem:
            print(problem, file=sys.stderr)
            return EXIT_NO_WINDOW
    from convstudio.gui.shell.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    # Qt's per-user folders then match core.paths (the runs root the command line uses).
    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANISATION)
    design, path, problem = initial_design(design_path)
    window = MainWindow(design, path)
    window.show()
    # The window shows before torch loads (a second or more); load it in the background
    # once the window has painted, so the first run or lab experiment does not wait for it.
    QTimer.singleShot(WARM_UP_DELAY_MS, lambda: create_worker(warm_up, parent=window, what="loading PyTorch"))
    if problem:
        window.warn("Cannot open design", f"{problem}\n\nOpened the CIFAR10 preset instead.")
    window.offer_recovery()
    return app.exec()
