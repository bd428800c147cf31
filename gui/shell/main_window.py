"""The Designer window: palette, layer stack, inspector, summary and diagram around one document.

``MainWindow.design_document`` holds the design, its path, modified flag, undo
stack and selection; every panel receives it and updates what its events name.
Panels are given the document and, when they need dialogs, the status bar or
docks, the window's :class:`~convstudio.gui.shell.panel_host.PanelHost`; none
holds the window. Questions and warnings go through :meth:`ask`, :meth:`warn`,
:meth:`choose_open_path` and :meth:`choose_save_path`, which tests replace.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Slot
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QMessageBox, QScrollArea, QTabBar, QWidget

from convstudio.core.design import Design
from convstudio.core.presets import list_presets
from convstudio.core.training.run_index import design_runs_folder
from convstudio.gui.shell.autosave import DEFAULT_INTERVAL_MS, default_autosave_dir
from convstudio.gui.shell.diagnostics_dialog import DiagnosticsDialog
from convstudio.gui.designer.diagram import NetworkDiagram
from convstudio.gui.designer.document import DesignDocument
from convstudio.gui.shell.export_menu import ExportActions
from convstudio.gui.shell.file_actions import FileActions
from convstudio.gui.shell.panel_host import PanelHost
from convstudio.gui.designer.inspector import Inspector
from convstudio.gui.inspection.dock import InspectController
from convstudio.gui.experiments.menu import ExperimentsController
from convstudio.gui.lab import LabController
from convstudio.gui.designer.layer_stack import LayerStackView
from convstudio.gui.designer.palette import PalettePanel
from convstudio.gui.designer.summary import ShapeSummary
from convstudio.gui.training.panel import TrainPanel

_GEOMETRY_KEY = "mainWindow/geometry"
_STATE_KEY = "mainWindow/state"
_STATE_VERSION = 1
_FILTER = "ConvStudio designs (*.json);;All files (*)"
TRAIN_PANEL_MIN_HEIGHT = 120


class MainWindow(QMainWindow):
    """The designer: edit a design with live shape checking, formulas, undo and files."""

    def __init__(self, design: Design, path: str | None = None, *, autosave_dir: Path | None = None,
                 autosave_interval_ms: int = DEFAULT_INTERVAL_MS, runs_root: Path | None = None):
        super().__init__()
        self.setObjectName("mainWindow")
        self.design_document = DesignDocument(design, path, self)
        document = self.design_document
        self.files = FileActions(self, document, autosave_dir or default_autosave_dir(), autosave_interval_ms)

        self.layer_stack = LayerStackView(document, self)
        self.setCentralWidget(self.layer_stack)
        self.palette_panel = PalettePanel(self)
        self.inspector = Inspector(document, self)
        self.summary = ShapeSummary(document, self)
        self.diagram = NetworkDiagram(document, self)
        diagram_scroll = QScrollArea(self)
        diagram_scroll.setObjectName("networkDiagramScroll")
        diagram_scroll.setWidget(self.diagram)
        diagram_scroll.setWidgetResizable(True)

        self.view_menu = None
        self.panel_host = PanelHost(self)
        self.export_actions = ExportActions(document, self.panel_host, self)
        self._build_menus()
        left, right, bottom = (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea,
                               Qt.DockWidgetArea.BottomDockWidgetArea)
        self.palette_dock = self.add_dock("Layers", self.palette_panel, "paletteDock", left)
        self.inspector_dock = self.add_dock("Inspector", self.inspector, "inspectorDock", right)
        self.summary_dock = self.add_dock("Summary", self.summary, "summaryDock", left)
        self.diagram_dock = self.add_dock("Network diagram", diagram_scroll, "diagramDock", bottom)
        self.train_panel = TrainPanel(document, self.panel_host, runs_root, parent=self)
        # The dashboard's own minimum height would make the bottom dock area, which it shares
        # with the diagram, take half the window; it grows when its tab is chosen instead.
        self.train_panel.setMinimumHeight(TRAIN_PANEL_MIN_HEIGHT)
        self.train_dock = self.add_dock("Training", self.train_panel, "trainDock", bottom)
        self.train_dock.visibilityChanged.connect(self._on_train_dock_visibility_changed)
        self.tabifyDockWidget(self.diagram_dock, self.train_dock)
        self.diagram_dock.raise_()
        training_menu = self.train_panel.make_menu(self)
        self.menuBar().insertMenu(self.view_menu.menuAction(), training_menu)
        # Training > Find learning rate…, Sweep settings…: panels in docks, like the Lab's.
        self.experiments = ExperimentsController(
            training_menu, lambda panel_class: panel_class(document, lambda: self.train_panel.runs_root),
            self.panel_host, self.train_panel.show_run, self)
        self.lab = LabController(
            lambda panel_class: panel_class(document, lambda: self.train_panel.runs_root), self.panel_host, self)
        self.menuBar().insertMenu(self.view_menu.menuAction(), self.lab.menu)
        self.inspect = InspectController(
            document, self.panel_host,
            lambda: design_runs_folder(self.train_panel.runs_root, document.design.name), self.view_menu, self)
        self.help_menu = self.menuBar().addMenu("&Help")  # the last menu, after View
        self.help_menu.setObjectName("menuHelp")
        self.help_menu.addAction("&Diagnostics…", self.show_diagnostics).setObjectName("actionDiagnostics")
        self.resizeDocks([self.palette_dock, self.inspector_dock], [250, 420], Qt.Orientation.Horizontal)
        # Tall enough for the diagram without a vertical scroll bar, above the tabs it shares with Training.
        tabs = QTabBar()
        tabs.addTab("Training")
        # A design with blocks draws lanes below each other: past a few, the diagram scrolls.
        diagram_height = (min(self.diagram.sizeHint().height(), 380)
                          + diagram_scroll.horizontalScrollBar().sizeHint().height() + tabs.sizeHint().height() + 8)
        self.resizeDocks([self.diagram_dock], [diagram_height], Qt.Orientation.Vertical)

        self.palette_panel.kind_activated.connect(self._on_kind_activated)
        document.changed.connect(self._update_title)
        document.modified_changed.connect(self._update_title)
        document.path_changed.connect(self._update_title)
        self.resize(1400, 900)
        self._restore_settings()
        self._update_title()

    # -- layout -------------------------------------------------------------
    def add_dock(self, title: str, widget: QWidget, object_name: str,
                 area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea) -> QDockWidget:
        """Add a panel as a dock, listed in the View menu; its saved placement is restored."""
        dock = QDockWidget(title, self)
        dock.setObjectName(object_name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.view_menu.addAction(dock.toggleViewAction())
        self.restoreDockWidget(dock)
        return dock

    def _build_menus(self) -> None:
        document = self.design_document
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.files.actions["actionNew"])
        file_menu.addAction(self.files.actions["actionOpen"])
        file_menu.addMenu(self.files.recent_menu)
        file_menu.addAction(self.files.actions["actionSave"])
        file_menu.addAction(self.files.actions["actionSaveAs"])
        file_menu.addSeparator()
        file_menu.addAction("Export diagram as &PNG…", lambda: self._export_diagram("png")).setObjectName(
            "actionExportPng")
        file_menu.addAction("Export diagram as S&VG…", lambda: self._export_diagram("svg")).setObjectName(
            "actionExportSvg")
        self.export_actions.make_menu(file_menu)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit", self.close)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)

        edit_menu = self.menuBar().addMenu("&Edit")
        undo = document.undo_stack.createUndoAction(self, "&Undo")
        undo.setObjectName("actionUndo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = document.undo_stack.createRedoAction(self, "&Redo")
        redo.setObjectName("actionRedo")
        redo.setShortcut(QKeySequence.StandardKey.Redo)
        self.undo_action, self.redo_action = undo, redo
        edit_menu.addAction(undo)
        edit_menu.addAction(redo)
        edit_menu.addSeparator()
        for action in self.layer_stack.layer_actions:
            edit_menu.addAction(action)

        presets_menu = self.menuBar().addMenu("&Presets")
        presets_menu.setObjectName("menuPresets")
        for preset in list_presets():
            action = presets_menu.addAction(preset.name, lambda key=preset.key: document.load_preset(key))
            action.setObjectName(f"actionPreset_{preset.key}")
            action.setToolTip(preset.description)
            action.setStatusTip(preset.description)
        presets_menu.setToolTipsVisible(True)
        self.view_menu = self.menuBar().addMenu("&View")

    # -- window state ----------------------------------------------------------
    def _restore_settings(self) -> None:
        settings = QSettings()
        geometry = settings.value(_GEOMETRY_KEY)
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = settings.value(_STATE_KEY)
        if state is not None:
            self.restoreState(state, _STATE_VERSION)

    def _save_settings(self) -> None:
        settings = QSettings()
        settings.setValue(_GEOMETRY_KEY, self.saveGeometry())
        settings.setValue(_STATE_KEY, self.saveState(_STATE_VERSION))

    def _update_title(self, *_args) -> None:
        document = self.design_document
        report = document.report
        if report.valid:
            validity = "valid"
            message = f"Valid: {len(report.layers)} layers"
        else:
            count = len(report.problems)
            validity = f"invalid ({count} problem{'s' if count > 1 else ''})"
            message = report.first_error() or ""
        if self.statusBar().currentMessage() != message:  # runs on every edit: repaint only a new message
            self.statusBar().showMessage(message)
        self.setWindowTitle(f"{document.display_name}[*] — {validity} — ConvStudio")
        self.setWindowModified(document.modified)

    # -- user actions -------------------------------------------------------------
    def _on_kind_activated(self, kind: str) -> None:
        self.design_document.insert_kind(len(self.design_document.design.layers), kind)

    @Slot(bool)
    def _on_train_dock_visibility_changed(self, visible: bool) -> None:
        if visible and self.isVisible():
            self.train_panel.raise_dock()  # tall enough for its charts

    def _export_diagram(self, kind: str) -> bool:
        stem = Path(self.design_document.display_name).stem
        path = self.choose_save_path(f"{stem}.{kind}", f"{kind.upper()} (*.{kind})")
        if not path:
            return False
        ok = self.diagram.export_png(path) if kind == "png" else self.diagram.export_svg(path)
        if not ok:
            self.warn("Cannot export diagram", f"{path} could not be written.")
        return ok

    def show_diagnostics(self) -> DiagnosticsDialog:
        """Help > Diagnostics: what this machine offers ConvStudio (``convstudio doctor``'s report)."""
        dialog = DiagnosticsDialog(self.train_panel.runs_root, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def offer_recovery(self) -> bool:
        """Offer autosaves left by a crashed session (called once the window shows)."""
        return self.files.offer_recovery()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if not self.files.maybe_save():
            event.ignore()
            return
        self.train_panel.shut_down()  # stops a run and waits for its process
        self.lab.shut_down()  # cancels experiments and waits for their workers
        self.experiments.shut_down()  # the learning-rate finder and sweeps, likewise
        self.inspect.shut_down()  # waits for an inspection in progress
        self._save_settings()
        self.files.autosaver.close()
        event.accept()

    # -- dialogs: one place, replaced in tests ---------------------------------------
    def ask(self, title: str, text: str, buttons, default) -> QMessageBox.StandardButton:
        """A question with standard buttons; returns the button chosen."""
        return QMessageBox.question(self, title, text, buttons, default)

    def warn(self, title: str, text: str) -> None:
        """Tell the user something went wrong, in words."""
        QMessageBox.warning(self, title, text)

    def choose_open_path(self) -> str:
        """The design file the user picks to open ("" when cancelled)."""
        path, _ = QFileDialog.getOpenFileName(self, "Open design", "", _FILTER)
        return path

    def choose_save_path(self, suggestion: str, file_filter: str = _FILTER) -> str:
        """The file name the user picks to save to ("" when cancelled)."""
        path, _ = QFileDialog.getSaveFileName(self, "Save as", suggestion, file_filter)
        return path
