"""The Training menu's experiments: "Find learning rate…" and "Sweep…", each opening its panel in a dock.

Like the Lab menu (:mod:`gui.lab.menu`), a panel is created the first time its
action is chosen and shown again afterwards; it opens as a floating window the
user can dock. The sweep panel's "open this trial's run" goes to the training
dashboard's ``show_run``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from importlib import import_module
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMenu

from convstudio.gui.lab.panel import LabPanel
from convstudio.gui.lab.panel_docks import PanelDocks

# key, menu text, panel class (module:name, imported on first use: the window shows before torch loads), tip
EXPERIMENTS: tuple[tuple[str, str, str, str], ...] = (
    ("lr_finder", "&Find learning rate…", "lr_finder_panel:LrFinderPanel",
     "The range test: raise the rate exponentially over a short run, see where the loss falls fastest"),
    ("sweep", "S&weep settings…", "sweep_panel:SweepPanel",
     "Train a grid or random draws of settings and layer fields; compare the trials"),
)


class ExperimentsController(PanelDocks):
    """Adds the experiments to a menu and owns their panels."""

    def __init__(self, menu: QMenu, make_panel: Callable[[type[LabPanel]], LabPanel], host,
                 show_run: Callable[[Path], None] | None = None, parent: QObject | None = None):
        super().__init__(make_panel, host, parent)
        self.setObjectName("experimentsController")
        self._show_run = show_run
        menu.addSeparator()
        self._add_actions(menu, EXPERIMENTS, "actionExperiment_")

    def open_panel(self, key: str, *_args) -> LabPanel:
        """Show the panel ``key`` (created on first use) and bring it to the front."""
        return self._show_docked(key, f"experiment_{key}Dock", partial(self._new_panel, key))

    def _new_panel(self, key: str) -> LabPanel:
        location = next(entry[2] for entry in EXPERIMENTS if entry[0] == key)
        module, name = location.split(":")
        panel = self._make_panel(getattr(import_module(f"convstudio.gui.experiments.{module}"), name))
        if self._show_run is not None and hasattr(panel, "open_run_requested"):
            panel.open_run_requested.connect(self._show_run)
        return panel
