"""The Lab menu: one action per experiment, each opening its panel in a dock of the main window.

:class:`LabController` (object name ``labController``, a child of the window)
creates a panel the first time its action is chosen and afterwards shows and
raises the same one. It holds no window: panels come from a factory and docks
from a :class:`~convstudio.gui.shell.panel_host.PanelHost`, both given by the
main window, which also puts the menu in its menu bar. A panel without a saved
placement opens as a floating dock window (the plots need room), which the
user can dock anywhere. When the window closes it calls :meth:`LabController.shut_down`:
running experiments are cancelled and their workers waited for.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QMenu, QWidget

from convstudio.gui.lab.panel import LabPanel
from convstudio.gui.lab.panel_docks import PanelDocks

# key, menu text, panel class (module:name, imported when the panel first opens, so the
# window shows before torch loads), what the action says in the status bar
EXPERIMENTS: tuple[tuple[str, str, str, str], ...] = (
    ("gradcheck", "&Gradient check (eq. 1-2)…", "gradcheck_panel:GradCheckPanel",
     "Compare autograd with finite differences, layer by layer, and the error against Delta"),
    ("signal", "&Initialisation and signal propagation (eq. 27-31)…", "signal_panel:SignalPanel",
     "Mean and variance of Z and H per layer at initialisation, for each scheme"),
    ("dropout", "&Dropout inference: weight scaling vs Monte Carlo (eq. 22-24)…", "dropout_panel:DropoutPanel",
     "Accuracy, NLL and calibration of both rules for a trained run as T grows"),
    ("ensemble", "&Ensemble of K members…", "ensemble_panel:EnsemblePanel",
     "Train K members with different seeds and compare the averaged softmax with each"),
    ("remedies", "&Overfitting remedies side by side…", "remedies_panel:RemediesPanel",
     "Train the baseline and one variant per remedy; compare their generalisation gaps"),
)


def panel_class(key: str) -> type[LabPanel]:
    """The panel class of experiment ``key``, imported on first use."""
    location = next(entry[2] for entry in EXPERIMENTS if entry[0] == key)
    module, name = location.split(":")
    return getattr(import_module(f"convstudio.gui.lab.{module}"), name)


class LabController(PanelDocks):
    """Owns the Lab menu and the lab panels of one main window."""

    def __init__(self, make_panel: Callable[[type[LabPanel]], LabPanel], host, parent: QObject | None = None):
        """``make_panel(panel_class)`` builds a panel; ``host`` (a PanelHost) docks it."""
        super().__init__(make_panel, host, parent)
        self.setObjectName("labController")
        self.menu = QMenu("&Lab", parent if isinstance(parent, QWidget) else None)
        self.menu.setObjectName("menuLab")
        self.menu.setToolTipsVisible(True)
        self._add_actions(self.menu, EXPERIMENTS, "actionLab_")
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shut_down)

    def open_panel(self, key: str, *_args) -> LabPanel:
        """Show the panel of experiment ``key`` (created on first use) and bring it to the front."""
        return self._show_docked(key, f"lab_{key}Dock", lambda: self._make_panel(panel_class(key)))

def install_lab_menu(window) -> QMenu:
    """The "Lab" menu of a main window, which installs it when it is built.

    The controller is ``window.findChild(LabController, "labController")``.
    """
    controller = window.findChild(LabController, "labController")
    if controller is None:
        raise LookupError("this window has no Lab menu: the main window installs it")
    return controller.menu
