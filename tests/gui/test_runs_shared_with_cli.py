"""A run started from the terminal shows in the app's Runs tab: both use core's runs root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QStandardPaths

from convstudio.core.design import save_design
from convstudio.core.paths import APPLICATION, ORGANISATION, app_data_dir, default_runs_root
from convstudio.core.training.run_index import design_runs_folder
from design_helpers import tiny_design

DESIGN = tiny_design("terminal run", training={"dataset": "shapes", "data_limit": 100, "epochs": 1,
                                                "batch_size": 50, "device": "cpu"})


def test_a_run_trained_with_the_cli_is_listed_in_the_runs_tab(make_window, tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("CONVSTUDIO_DATA", str(tmp_path / "data"))
    save_design(DESIGN, tmp_path / "terminal.json")
    result = subprocess.run([sys.executable, "-m", "convstudio", "train", str(tmp_path / "terminal.json")],
                            capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    window = make_window(DESIGN)
    view = window.train_panel.runs
    assert window.train_panel.runs_root == tmp_path / "runs"
    assert view.folder == design_runs_folder(tmp_path / "runs", DESIGN.name)
    assert len(view.runs) == 1 and view.runs[0].reason == "finished"
    assert view.tree.topLevelItemCount() == 1 and view.tree.topLevelItem(0).text(1) == "finished"


def test_the_default_runs_root_is_where_qt_put_the_apps_runs(monkeypatch, tmp_path):
    # The app kept its runs in Qt's AppDataLocation before core chose the folder: the same folder still.
    monkeypatch.delenv("CONVSTUDIO_RUNS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    names = QCoreApplication.organizationName(), QCoreApplication.applicationName()
    QStandardPaths.setTestModeEnabled(False)
    QCoreApplication.setOrganizationName(ORGANISATION)
    QCoreApplication.setApplicationName(APPLICATION)
    try:
        qt_folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    finally:
        QStandardPaths.setTestModeEnabled(True)
        QCoreApplication.setOrganizationName(names[0])
        QCoreApplication.setApplicationName(names[1])
    assert app_data_dir() == Path(qt_folder)
    assert default_runs_root() == app_data_dir() / "runs"
