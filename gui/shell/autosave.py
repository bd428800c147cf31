"""Autosave while there are unsaved changes, and find what a crashed session left.

Each window's :class:`Autosaver` writes the design (atomically, with the
core's JSON) ``interval_ms`` after the first unsaved edit and then every
``interval_ms`` while it stays modified, next to a small
``.meta.json`` naming the file it belongs to, in a per-user folder. A lock file
held while the window is open tells other running instances to keep their
hands off; a crash leaves a stale lock, which :func:`find_recoverable` takes
over. A clean close, a save, or undoing back to the saved state removes the
autosave. Recovered changes are written to this session's autosave at once
(:meth:`Autosaver.protect_recovered`), so a second crash loses nothing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, QStandardPaths, QTimer

from convstudio.core.atomic import atomic_write_text
from convstudio.gui.designer.document import DesignDocument

DEFAULT_INTERVAL_MS = 30_000


def default_autosave_dir() -> Path:
    """``<per-user app data>/autosave`` as QStandardPaths gives it on this system."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(base) / "autosave"


def _lock_path(design_file: Path) -> Path:
    return design_file.with_suffix(".lock")


def _meta_path(design_file: Path) -> Path:
    return design_file.with_suffix(".meta.json")


@dataclass
class Recovery:
    """An autosave left by a session that did not close cleanly."""

    design_file: Path
    original_path: str | None  # the file it was edited from; None for an unsaved design
    saved_at: datetime
    lock: QLockFile  # held by us until the recovery is accepted or discarded

    def discard(self) -> None:
        """Remove the autosave and its lock."""
        self.design_file.unlink(missing_ok=True)
        _meta_path(self.design_file).unlink(missing_ok=True)
        self.lock.unlock()


def find_recoverable(directory: Path) -> list[Recovery]:
    """Autosaves of sessions that are no longer running and are newer than their saved file, newest first."""
    found = []
    if not directory.is_dir():
        return found
    for meta_file in sorted(directory.glob("*.meta.json")):
        design_file = meta_file.with_name(meta_file.name.removesuffix(".meta.json") + ".json")
        lock = QLockFile(str(_lock_path(design_file)))
        if not lock.tryLock(0):
            continue  # a running ConvStudio owns it
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            saved_at = datetime.fromtimestamp(design_file.stat().st_mtime)
        except (OSError, ValueError):
            meta_file.unlink(missing_ok=True)
            lock.unlock()
            continue
        original = meta.get("path")
        if original and Path(original).is_file() and Path(original).stat().st_mtime >= design_file.stat().st_mtime:
            # The file was saved after this autosave: nothing to recover.
            Recovery(design_file, original, saved_at, lock).discard()
            continue
        found.append(Recovery(design_file, original, saved_at, lock))
    return sorted(found, key=lambda item: item.saved_at, reverse=True)


class Autosaver(QObject):
    """Saves ``document`` to ``directory`` every ``interval_ms`` while it has unsaved changes."""

    def __init__(self, document: DesignDocument, directory: Path, interval_ms: int = DEFAULT_INTERVAL_MS,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.document = document
        self.directory = Path(directory)
        self.design_file = self.directory / f"session-{uuid.uuid4().hex[:12]}.json"
        self._lock = QLockFile(str(_lock_path(self.design_file)))
        self._dirty = False
        # Started by the first unsaved edit, not now: an edit made 29 s after the window opened
        # must not wait only 1 s, nor one made just after a tick wait 2 intervals.
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._on_timeout)
        document.changed.connect(self._on_document_changed)
        document.modified_changed.connect(self._on_modified_changed)

    @property
    def meta_file(self) -> Path:
        return _meta_path(self.design_file)

    def _on_document_changed(self) -> None:
        self._dirty = True
        if self.document.modified and not self.timer.isActive():
            self.timer.start()

    def _on_modified_changed(self, modified: bool) -> None:
        if not modified:
            self.discard()
        elif not self.timer.isActive():
            self.timer.start()

    def _on_timeout(self) -> None:
        if not self.document.modified:
            self.timer.stop()  # saved or undone: the next edit starts it again
        elif self._dirty:
            self.save_now()

    def protect_recovered(self) -> Path:
        """Write recovered changes to this session's autosave at once: they are unsaved edits like any other."""
        path = self.save_now()
        if not self.timer.isActive():
            self.timer.start()
        return path

    def save_now(self) -> Path:
        """Write the autosave at once (the design first, then the note of where it belongs)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self._lock.isLocked():
            self._lock.lock()
        atomic_write_text(self.design_file, self.document.design.to_json())
        meta = {"path": self.document.path, "name": self.document.design.name}
        atomic_write_text(self.meta_file, json.dumps(meta) + "\n")
        self._dirty = False
        return self.design_file

    def discard(self) -> None:
        """Remove this session's autosave (after a save, or on a clean close)."""
        self.design_file.unlink(missing_ok=True)
        self.meta_file.unlink(missing_ok=True)
        self._dirty = self.document.modified
        if not self.document.modified:
            self.timer.stop()

    def close(self) -> None:
        """Stop, remove the autosave and release the lock: the session ends cleanly."""
        self.timer.stop()
        self.discard()
        if self._lock.isLocked():
            self._lock.unlock()
