"""The Lab menu: one action per experiment, each opening its panel in a dock of the main window.

:class:`LabController` (object name ``labController``, a child of the window)
creates a panel the first time its action is chosen and afterwards shows and
raises the same one. A panel without a saved placement opens as a floating
dock window (the plots need room), which the user can dock anywhere. When the
window closes, running experiments are cancelled and their threads waited for.
"""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QEvent, QObject, QRect, Qt, Slot
from PySide6.QtWidgets import QApplication, QDockWidget, QMenu

from convstudio.gui.lab.dropout_panel import DropoutPanel
from convstudio.gui.lab.ensemble_panel import EnsemblePanel
from convstudio.gui.lab.gradcheck_panel import GradCheckPanel
from convstudio.gui.lab.panel import LabPanel
from convstudio.gui.lab.remedies_panel import RemediesPanel
from convstudio.gui.lab.signal_panel import SignalPanel

# key, menu text, panel class, what the action says in the status bar
EXPERIMENTS: tuple[tuple[str, str, type[LabPanel], str], ...] = (
    ("gradcheck", "&Gradient check (eq. 1-2)…", GradCheckPanel,
     "Compare autograd with finite differences, layer by layer, and the error against Delta"),
    ("signal", "&Initialisation and signal propagation (eq. 27-31)…", SignalPanel,
     "Mean and variance of Z and H per layer at initialisation, for each scheme"),
    ("dropout", "&Dropout inference: weight scaling vs Monte Carlo (eq. 22-24)…", DropoutPanel,
     "Accuracy, NLL and calibration of both rules for a trained run as T grows"),
    ("ensemble", "&Ensemble of K members…", EnsemblePanel,
     "Train K members with different seeds and compare the averaged softmax with each"),
    ("remedies", "&Overfitting remedies side by side…", RemediesPanel,
     "Train the baseline and one variant per remedy; compare their generalisation gaps"),
)
FLOATING_SIZE = (1220, 780)


class LabController(QObject):
    """Owns the Lab menu and the lab panels of one main window."""

    def __init__(self, window):
        super().__init__(window)
        self.setObjectName("labController")
        self.window_ = window
        self.panels: dict[str, LabPanel] = {}
        self.docks: dict[str, QDockWidget] = {}
        self.menu = QMenu("&Lab", window)
        self.menu.setObjectName("menuLab")
        self.menu.setToolTipsVisible(True)
        self.actions_ = {}
        for key, text, _, tip in EXPERIMENTS:
            action = self.menu.addAction(text)
            action.setObjectName(f"actionLab_{key}")
            action.setToolTip(tip)
            action.setStatusTip(tip)
            action.triggered.connect(partial(self.open_panel, key))
            self.actions_[key] = action
        window.installEventFilter(self)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shut_down)

    def open_panel(self, key: str, *_args) -> LabPanel:
        """Show the panel of experiment ``key`` (created on first use) and bring it to the front."""
        if key not in self.panels:
            _, _, panel_class, _ = next(entry for entry in EXPERIMENTS if entry[0] == key)
            panel = panel_class(self.window_)
            dock = self.window_.add_dock(panel.title, panel, f"lab_{key}Dock",
                                         Qt.DockWidgetArea.RightDockWidgetArea)
            if not self.window_.restoreDockWidget(dock):  # no saved placement: a window of its own
                dock.setFloating(True)
                frame = self.window_.frameGeometry()
                width, height = FLOATING_SIZE
                dock.setGeometry(QRect(frame.x() + 80, frame.y() + 80, width, height))
            self.panels[key] = panel
            self.docks[key] = dock
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

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        # The window hides, not spontaneously, once its close was accepted: stop the lab's threads then.
        if watched is self.window_ and event.type() == QEvent.Type.Hide and not event.spontaneous():
            self.shut_down()
        return False


def install_lab_menu(window) -> QMenu:
    """Add the "Lab" menu to ``window``'s menu bar (before View, if there is one) and return it.

    ``window`` is the main window: it has ``design_document`` (the design the
    experiments run on) and ``add_dock(title, widget, name, area)``. The
    controller is ``window.findChild(LabController, "labController")``.
    Installing twice returns the menu already there.
    """
    existing = window.findChild(LabController, "labController")
    if existing is not None:
        return existing.menu
    controller = LabController(window)
    view_menu = getattr(window, "view_menu", None)
    if view_menu is not None:
        window.menuBar().insertMenu(view_menu.menuAction(), controller.menu)
    else:
        window.menuBar().addMenu(controller.menu)
    return controller.menu
