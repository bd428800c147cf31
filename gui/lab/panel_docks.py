"""Panels made on first use, each shown in its own dock: what the Lab and the Training menu's experiments share.

:class:`PanelDocks` keeps one panel per experiment key. The first time a key
is opened its panel is built and docked (floating until the user docks it, the
plots need room); afterwards the same dock is shown and raised. When the window
closes, :meth:`PanelDocks.shut_down` cancels running experiments and waits for
their workers.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QDockWidget, QMenu

from convstudio.gui.lab.panel import LabPanel

FLOATING_SIZE = (1220, 780)


class PanelDocks(QObject):
    """The experiment panels of one main window and their docks."""

    def __init__(self, make_panel: Callable[[type[LabPanel]], LabPanel], host, parent: QObject | None = None):
        """``make_panel(panel_class)`` builds a panel; ``host`` (a PanelHost) docks it."""
        super().__init__(parent)
        self._make_panel = make_panel
        self._host = host
        self.panels: dict[str, LabPanel] = {}
        self.docks: dict[str, QDockWidget] = {}
        self.actions_ = {}

    def _add_actions(self, menu: QMenu, experiments, object_prefix: str) -> None:
        """One action per ``(key, text, _, tip)`` entry, calling the subclass's ``open_panel(key)``."""
        for key, text, _, tip in experiments:
            action = menu.addAction(text)
            action.setObjectName(f"{object_prefix}{key}")
            action.setToolTip(tip)
            action.setStatusTip(tip)
            action.triggered.connect(partial(self.open_panel, key))
            self.actions_[key] = action

    def _show_docked(self, key: str, dock_name: str, create: Callable[[], LabPanel]) -> LabPanel:
        """The panel ``key``, made by ``create()`` and docked as ``dock_name`` the first time; shown and raised."""
        if key not in self.panels:
            panel = create()
            self.docks[key] = self._host.add_dock(panel.title, panel, dock_name,
                                                  Qt.DockWidgetArea.RightDockWidgetArea, floating_size=FLOATING_SIZE)
            self.panels[key] = panel
        dock = self.docks[key]
        dock.show()
        dock.raise_()
        return self.panels[key]

    @property
    def running(self) -> bool:
        """True while any panel's experiment runs."""
        return any(panel.running for panel in self.panels.values())

    @Slot()
    def shut_down(self) -> bool:
        """Cancel every running experiment and wait for its thread; False if one did not end."""
        return all([panel.shut_down() for panel in self.panels.values()])
