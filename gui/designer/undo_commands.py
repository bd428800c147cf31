"""The undo step: one design (and file path) before, one after, and what changed between them.

Designs are immutable values (``core.editing`` returns new ones), so a single
command class serves every edit: add, remove, move, duplicate, field change,
input change, fix applied, preset loaded. Each command carries the change
records of its edit (:mod:`convstudio.gui.designer.changes`); redo hands the
document the design after with those records, undo the design before with
their inverse, so views get the same granular events either way. Each command
keeps the shape reports of its two designs once they are known, so undo and
redo show a design's report without checking it again. Selection is not part of
a command: it is view state.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Hashable

from PySide6.QtGui import QUndoCommand

from convstudio.core.design import Design
from convstudio.core.shape_records import DesignReport
from convstudio.gui.designer.changes import Changes, invert

if TYPE_CHECKING:
    from convstudio.gui.designer.document import DesignDocument

# Consecutive changes of the same field within this many seconds are one undo step,
# so spinning a kernel size from 3 to 7 is undone at once.
MERGE_WINDOW_S = 1.5
_MERGE_ID = 4000


class DesignEditCommand(QUndoCommand):
    """Replace the document's design by ``after``; undo puts ``before`` back.

    ``changes`` says how ``after`` differs from ``before``. Commands with the
    same ``merge_key`` pushed within :data:`MERGE_WINDOW_S` seconds merge (the
    key names one field of one layer, so their changes are alike).
    """

    def __init__(
        self,
        document: DesignDocument,
        text: str,
        before: Design,
        after: Design,
        changes: Changes,
        merge_key: Hashable | None = None,
        path_before: str | None = None,
        path_after: str | None = None,
        changes_path: bool = False,
    ):
        super().__init__(text)
        self._document = document
        self.before = before
        self.after = after
        self.changes = tuple(changes)
        self.merge_key = merge_key
        self.path_before = path_before
        self.path_after = path_after
        self.changes_path = changes_path
        self._pushed_at = time.monotonic()
        # The shape reports of both designs, kept once known: undo and redo show them again unchecked.
        self.before_report: DesignReport | None = document.report if document.design is before else None
        self.after_report: DesignReport | None = None

    def redo(self) -> None:
        path = self.path_after if self.changes_path else None
        self.after_report = self._document.apply_step(self.after, self.changes, path, self.changes_path,
                                                      report=self.after_report)

    def undo(self) -> None:
        path = self.path_before if self.changes_path else None
        self.before_report = self._document.apply_step(self.before, invert(self.changes), path, self.changes_path,
                                                       report=self.before_report)

    def id(self) -> int:  # noqa: A003 - Qt's name
        return _MERGE_ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt's name
        if not isinstance(other, DesignEditCommand) or other.merge_key != self.merge_key:
            return False
        if other._pushed_at - self._pushed_at > MERGE_WINDOW_S:
            return False
        self.after = other.after
        self.after_report = other.after_report
        self.setText(other.text())
        self._pushed_at = other._pushed_at
        # A change back to where it started leaves nothing to undo.
        if self.after == self.before:
            self.setObsolete(True)
        return True
