"""The Inspect dock: the Inspect view and the data browser as two tabs, opened from the View menu.

:class:`InspectController` adds "Inspect…" to the View menu and builds the
dock the first time it is chosen (the window shows before torch loads; the
view needs it). Clicking an image in the data browser inspects it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QDockWidget, QMenu, QTabWidget

FLOATING_SIZE = (1320, 860)


class InspectController(QObject):
    """Owns the View menu's Inspect action and, once opened, the Inspect dock."""

    def __init__(self, document, host, runs_folder: Callable[[], Path], view_menu: QMenu, parent=None):
        super().__init__(parent)
        self.setObjectName("inspectController")
        self._document = document
        self._host = host
        self._runs_folder = runs_folder
        self.tabs: QTabWidget | None = None
        self.panel = None
        self.browser = None
        self.dock: QDockWidget | None = None
        self.action = view_menu.addAction("&Inspect: feature maps, Grad-CAM, data…", self.show)
        self.action.setObjectName("actionInspect")
        self.action.setStatusTip("Look inside the design or a run on one image, and browse the dataset")

    @Slot()
    def show(self) -> QTabWidget:
        """Open (the first time, build) the Inspect dock and raise it."""
        if self.tabs is None:
            from convstudio.gui.inspection.data_browser import DataBrowser
            from convstudio.gui.inspection.inspect_panel import InspectPanel

            choose = self._host.choose_save_path
            self.panel = InspectPanel(self._document, self._runs_folder, choose)
            self.browser = DataBrowser(choose)
            self.browser.image_chosen.connect(self._on_image_chosen)
            self.tabs = QTabWidget()
            self.tabs.setObjectName("inspectTabs")
            self.tabs.addTab(self.panel, "Inspect")
            self.tabs.addTab(self.browser, "Data browser")
            self.dock = self._host.add_dock("Inspect", self.tabs, "inspectDock", floating_size=FLOATING_SIZE)
        else:
            self.panel.refresh_networks()
        self._host.raise_dock(self.dock)
        return self.tabs

    @Slot(object)
    def _on_image_chosen(self, image) -> None:
        self.tabs.setCurrentWidget(self.panel)
        self.panel.inspect(("image", image))

    def shut_down(self) -> None:
        """Wait for the dock's background work (the window is closing)."""
        for widget in (self.panel, self.browser):
            if widget is not None:
                widget.shut_down()
