"""File handling for the main window: New, Open, Save, Save As, recent files, recovery.

:class:`FileActions` owns the file menu's actions and the autosaver. It asks
questions and reports problems only through the window's ``ask``, ``warn``,
``choose_open_path`` and ``choose_save_path`` methods, so tests can answer
them without a modal dialog.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSettings
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMessageBox

from convstudio.core.design import Design, DesignFileError, InputSpec, load_design
from convstudio.gui.shell.autosave import Autosaver, Recovery, find_recoverable
from convstudio.gui.designer.document import DesignDocument

RECENT_KEY = "files/recent"
RECENT_LIMIT = 8
Button = QMessageBox.StandardButton


def new_design() -> Design:
    """What File > New starts from: an RGB 32x32 input and no layers."""
    return Design(input=InputSpec(channels=3, height=32, width=32))


class FileActions(QObject):
    """The File menu's work for one window and its document."""

    def __init__(self, window, document: DesignDocument, autosave_dir: Path, autosave_interval_ms: int):
        super().__init__(window)
        self.window = window
        self.document = document
        self.autosave_dir = Path(autosave_dir)
        self.autosaver = Autosaver(document, self.autosave_dir, autosave_interval_ms, self)
        self.actions: dict[str, QAction] = {}
        specs = (
            ("actionNew", "&New", QKeySequence.StandardKey.New, self.new),
            ("actionOpen", "&Open…", QKeySequence.StandardKey.Open, self.open),
            ("actionSave", "&Save", QKeySequence.StandardKey.Save, self.save),
            ("actionSaveAs", "Save &As…", QKeySequence.StandardKey.SaveAs, self.save_as),
        )
        for name, text, shortcut, slot in specs:
            action = QAction(text, window)
            action.setObjectName(name)
            action.setShortcut(shortcut)
            action.triggered.connect(lambda _checked=False, slot=slot: slot())
            self.actions[name] = action
        self.recent_menu = QMenu("Open &Recent", window)
        self.recent_menu.setObjectName("menuRecent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)

    # -- recent files ---------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = QSettings().value(RECENT_KEY, [])
        if isinstance(value, str):
            value = [value]
        return [str(path) for path in (value or [])]

    def _remember(self, path: str) -> None:
        path = str(Path(path).resolve())
        recent = [path] + [item for item in self.recent_files() if item != path]
        QSettings().setValue(RECENT_KEY, recent[:RECENT_LIMIT])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for path in recent:
            action = self.recent_menu.addAction(Path(path).name, lambda p=path: self.open_path(p))
            action.setToolTip(path)
            action.setStatusTip(path)
        if not recent:
            self.recent_menu.addAction("(no recent files)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", lambda: QSettings().setValue(RECENT_KEY, []))

    # -- the actions --------------------------------------------------------------
    def maybe_save(self) -> bool:
        """Ask to save unsaved changes. True when it is fine to go on (saved or discarded)."""
        if not self.document.modified:
            return True
        answer = self.window.ask(
            "Unsaved changes",
            f"“{self.document.display_name}” has changes that are not saved. Save them?",
            Button.Save | Button.Discard | Button.Cancel,
            Button.Save,
        )
        if answer == Button.Save:
            return self.save()
        return answer == Button.Discard

    def new(self) -> bool:
        """Start a new empty design (after asking about unsaved changes)."""
        if not self.maybe_save():
            return False
        self.autosaver.discard()
        self.document.reset(new_design(), None)
        return True

    def open(self) -> bool:
        """Ask for a file and open it."""
        if not self.maybe_save():
            return False
        path = self.window.choose_open_path()
        return bool(path) and self.open_path(path, ask_to_save=False)

    def open_path(self, path: str, ask_to_save: bool = True) -> bool:
        """Open the design at ``path``; if it cannot be read, say why and keep the current design."""
        if ask_to_save and not self.maybe_save():
            return False
        try:
            design = load_design(path)
        except DesignFileError as error:
            self.window.warn("Cannot open design", str(error))
            return False
        self.autosaver.discard()
        self.document.reset(design, str(path))
        self._remember(str(path))
        return True

    def save(self) -> bool:
        """Save to the design's file, or ask for one."""
        if self.document.path is None:
            return self.save_as()
        return self._save_to(self.document.path)

    def save_as(self) -> bool:
        """Ask for a file name and save there."""
        path = self.window.choose_save_path(self.document.path or f"{self.document.design.name}.json")
        if not path:
            return False
        if not path.lower().endswith(".json"):
            path += ".json"
        return self._save_to(path)

    def _save_to(self, path: str) -> bool:
        try:
            self.document.save(path)
        except OSError as error:
            self.window.warn("Cannot save design", f"{path}: {error.strerror or error}")
            return False
        self.autosaver.discard()
        self._remember(path)
        self.window.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    # -- recovery -------------------------------------------------------------------
    def offer_recovery(self) -> bool:
        """Offer each autosave a crashed session left; True if one was recovered."""
        recovered = False
        for recovery in find_recoverable(self.autosave_dir):
            if recovered:
                recovery.lock.unlock()  # leave it for the next start
                continue
            recovered = self._offer(recovery)
        return recovered

    def _offer(self, recovery: Recovery) -> bool:
        where = Path(recovery.original_path).name if recovery.original_path else "an unsaved design"
        answer = self.window.ask(
            "Recover unsaved changes",
            f"ConvStudio did not close normally. Changes to {where} were autosaved at "
            f"{recovery.saved_at:%Y-%m-%d %H:%M:%S}.\n\nRecover them? (Discard deletes the autosave.)",
            Button.Yes | Button.Discard,
            Button.Yes,
        )
        if answer != Button.Yes:
            recovery.discard()
            return False
        try:
            recovered = load_design(recovery.design_file)
        except DesignFileError as error:
            self.window.warn("Cannot recover", str(error))
            recovery.discard()
            return False
        before, path = self.document.design, None
        if recovery.original_path:
            try:
                before, path = load_design(recovery.original_path), recovery.original_path
            except DesignFileError:
                path = recovery.original_path if not Path(recovery.original_path).exists() else None
        self.document.reset(before, path)
        # One undo step back to the saved file; the window shows the design as modified.
        self.document.replace_design("Recover autosaved changes", recovered)
        # Write our own autosave of them before the crashed session's goes: there is never a moment
        # (nor a 30 s wait) in which a second crash would lose the recovered edits.
        self.autosaver.protect_recovered()
        recovery.discard()
        return True
