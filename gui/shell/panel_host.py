"""What a panel may ask of the main window, without holding the window.

The main window makes one :class:`PanelHost` and hands it, with the document,
to the panels that need dialogs, the status bar or docks (the training
dashboard, the Lab menu). A panel then depends on these few calls, not on
the window's attributes, and a test can give it a host of its own. Every call
goes to the window when it is made, so a test that replaces the window's
``warn`` or ``choose_save_path`` is heard.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import QDockWidget, QMessageBox, QWidget


class PanelHost:
    """Dialogs, the status bar, saving first, and docks of one main window."""

    def __init__(self, window):
        self._window = window

    # -- dialogs and messages ------------------------------------------------------------
    def dialog_parent(self) -> QWidget:
        """The widget a file dialog opens over."""
        return self._window

    def ask(self, title: str, text: str, buttons, default) -> QMessageBox.StandardButton:
        """A question with standard buttons; returns the button chosen."""
        return self._window.ask(title, text, buttons, default)

    def warn(self, title: str, text: str) -> None:
        """Tell the user something went wrong, in words."""
        self._window.warn(title, text)

    def choose_save_path(self, suggestion: str, file_filter: str) -> str:
        """The file name the user picks to save to ("" when cancelled)."""
        return self._window.choose_save_path(suggestion, file_filter)

    def maybe_save(self) -> bool:
        """Ask to save the design's unsaved changes; True when it is fine to go on."""
        return self._window.files.maybe_save()

    def show_status(self, text: str, timeout_ms: int = 0) -> None:
        """Say ``text`` in the window's status bar (for ``timeout_ms``; 0: until replaced)."""
        self._window.statusBar().showMessage(text, timeout_ms)

    # -- docks -----------------------------------------------------------------------------
    def add_dock(self, title: str, widget: QWidget, object_name: str,
                 area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea,
                 floating_size: tuple[int, int] | None = None) -> QDockWidget:
        """Put ``widget`` in a dock listed in the View menu, where it was last time.

        Without a saved placement, a dock with ``floating_size`` opens as a
        window of its own near the main window's top left corner.
        """
        window = self._window
        dock = window.add_dock(title, widget, object_name, area)
        if floating_size is not None and not window.restoreDockWidget(dock):
            dock.setFloating(True)
            frame = window.frameGeometry()
            dock.setGeometry(QRect(frame.x() + 80, frame.y() + 80, *floating_size))
        return dock

    def raise_dock(self, dock: QDockWidget, min_height_fraction: float | None = None,
                   height_fraction: float | None = None) -> None:
        """Show and raise ``dock``; if it is shorter than ``min_height_fraction`` of the window, make it taller."""
        dock.show()
        dock.raise_()
        window = self._window
        if min_height_fraction is not None and dock.height() < min_height_fraction * window.height():
            height = int((height_fraction or min_height_fraction) * window.height())
            window.resizeDocks([dock], [height], Qt.Orientation.Vertical)
