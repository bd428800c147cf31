"""Fixtures for the Designer window tests: isolated settings and a window whose dialogs are scripted."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QSettings, QStandardPaths  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from convstudio.core.presets import load_preset  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_settings(qapp, tmp_path, monkeypatch):
    """QSettings and standard paths under ``tmp_path``: tests never touch the user's settings."""
    names = QCoreApplication.organizationName(), QCoreApplication.applicationName()
    QStandardPaths.setTestModeEnabled(True)
    QCoreApplication.setOrganizationName("ConvStudioTests")
    QCoreApplication.setApplicationName("designer-tests")
    monkeypatch.setenv("CONVSTUDIO_RUNS", str(tmp_path / "runs"))  # never the user's runs folder
    settings_dir = str(tmp_path / "settings")
    for format_ in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(format_, QSettings.Scope.UserScope, settings_dir)
    # A real message box would block the test run: fail loudly instead.
    def no_dialog(*args, **kwargs):
        raise AssertionError(f"unexpected message box: {args[1:3]}")
    for name in ("question", "warning", "information", "critical"):
        monkeypatch.setattr(QMessageBox, name, staticmethod(no_dialog))
    yield tmp_path
    QStandardPaths.setTestModeEnabled(False)
    QCoreApplication.setOrganizationName(names[0])
    QCoreApplication.setApplicationName(names[1])


class ScriptedDialogs:
    """Answers the window's questions from a queue and records every question and warning."""

    def __init__(self):
        self.answers: list[QMessageBox.StandardButton] = []
        self.questions: list[tuple[str, str]] = []
        self.warnings: list[tuple[str, str]] = []
        self.open_paths: list[str] = []
        self.save_paths: list[str] = []

    def ask(self, title, text, buttons, default):
        self.questions.append((title, text))
        # With nothing scripted, closing at teardown discards the changes.
        return self.answers.pop(0) if self.answers else QMessageBox.StandardButton.Discard

    def warn(self, title, text):
        self.warnings.append((title, text))

    def choose_open_path(self):
        return self.open_paths.pop(0) if self.open_paths else ""

    def choose_save_path(self, suggestion, file_filter=""):
        return self.save_paths.pop(0) if self.save_paths else ""


@pytest.fixture
def make_window(qtbot, tmp_path):
    """A factory of shown main windows with scripted dialogs (``window.dialogs``)."""
    from convstudio.gui.shell.main_window import MainWindow

    def make(design=None, path=None, autosave_dir=None, autosave_interval_ms=30_000):
        window = MainWindow(design or load_preset("cifar10"), path,
                            autosave_dir=autosave_dir or tmp_path / "autosave",
                            autosave_interval_ms=autosave_interval_ms)
        dialogs = ScriptedDialogs()
        window.dialogs = dialogs
        window.ask = dialogs.ask
        window.warn = dialogs.warn
        window.choose_open_path = dialogs.choose_open_path
        window.choose_save_path = dialogs.choose_save_path
        qtbot.addWidget(window)
        window.resize(1400, 900)
        window.show()
        qtbot.waitExposed(window)
        return window

    return make


@pytest.fixture
def window(make_window):
    """The window on the lecture's CIFAR10 preset."""
    return make_window()


@pytest.fixture
def panel_window(make_window, tmp_path, monkeypatch):
    """A factory of windows on the small shapes preset (or ``design``) with the Training dock raised.

    Datasets and runs are looked for under ``tmp_path``.
    """
    monkeypatch.setenv("CONVSTUDIO_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("CONVSTUDIO_RUNS", str(tmp_path / "runs"))

    def make(design=None):
        window = make_window(design or load_preset("shapes_small"))
        window.train_dock.raise_()
        return window

    return make
