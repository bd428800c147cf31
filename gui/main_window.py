"""The main window: the design's layers with their output sizes and formulas."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QHeaderView, QLabel, QMainWindow, QMessageBox, QTableView

from core.design import Design, DesignFileError, load_design
from core.presets import list_presets, load_preset
from gui.layer_table_model import LayerTableModel


class MainWindow(QMainWindow):
    """Shows one design: a table of its layers, their shapes and the lecture's formulas."""

    def __init__(self, design: Design, path: str | None = None):
        super().__init__()
        self._path = path
        self.model = LayerTableModel(design, self)
        self.table = QTableView(self)
        self.table.setObjectName("layerStack")
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.setCentralWidget(self.table)
        self.summary = QLabel(self)
        self.summary.setObjectName("shapeSummary")
        self.statusBar().addPermanentWidget(self.summary)
        self._build_menus()
        self.resize(1000, 720)
        self._show_design(design, path)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = file_menu.addAction("&Open...", self._on_open_requested)
        open_action.setObjectName("actionOpen")
        file_menu.addAction("&Quit", self.close)
        presets_menu = self.menuBar().addMenu("&Presets")
        for preset in list_presets():
            action = presets_menu.addAction(preset.name, lambda key=preset.key: self._show_design(load_preset(key)))
            action.setToolTip(preset.description)

    def _show_design(self, design: Design, path: str | None = None) -> None:
        self._path = path
        self.model.set_design(design)
        report = self.model.report
        validity = "valid" if report.valid else f"{len(report.problems)} problem(s)"
        where = Path(path).name if path else "preset"
        self.setWindowTitle(f"{design.name} ({where}) - ConvStudio")
        self.summary.setText(
            f"{validity} | parameters {report.total_params:,} | "
            f"output {'x'.join(map(str, report.output_shape or ()))}"
        )

    def _on_open_requested(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open design", "", "Designs (*.json)")
        if path:
            self.open_file(path)

    def open_file(self, path: str) -> bool:
        """Show the design at ``path``; on failure say why and keep the current design."""
        try:
            design = load_design(path)
        except DesignFileError as error:
            QMessageBox.warning(self, "Cannot open design", str(error))
            return False
        self._show_design(design, path)
        return True
