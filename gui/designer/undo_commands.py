"""The undo step: one design (and file path) before, one after.

Designs are immutable values (``core.editing`` returns new ones), so a single
command class serves every edit: add, remove, move, duplicate, field change,
input change, fix applied, preset loaded. The command only hands designs to
the document; views redraw because the document says it changed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Hashable

from PySide6.QtGui import QUndoCommand

from convstudio.core.design import Design

if TYPE_CHECKING:
    from convstudio.gui.designer.document import DesignDocument

# Consecutive changes of the same field within this many seconds are one undo step,
# so spinning a kernel size from 3 to 7 is undone at once.
MERGE_WINDOW_S = 1.5
_MERGE_ID = 4000


class DesignEditCommand(QUndoCommand):
    """Replace the document's design by ``after``; undo puts ``before`` back.

    ``select_after``/``select_before`` are stack rows (0 the input, 1.. layers)
    the views select when the step is done or undone. Commands with the same
    ``merge_key`` pushed within :data:`MERGE_WINDOW_S` seconds merge.
    """

    def __init__(
        self,
        document: DesignDocument,
        text: str,
        before: Design,
        after: Design,
        select_before: int | None = None,
        select_after: int | None = None,
        merge_key: Hashable | None = None,
        path_before: str | None = None,
        path_after: str | None = None,
        changes_path: bool = False,
    ):
        super().__init__(text)
        self._document = document
        self.before = before
        self.after = after
        self.select_before = select_before
        self.select_after = select_after
        self.merge_key = merge_key
        self.path_before = path_before
        self.path_after = path_after
        self.changes_path = changes_path
        self._pushed_at = time.monotonic()

    def redo(self) -> None:
        path = self.path_after if self.changes_path else None
        self._document._show(self.after, self.select_after, path, self.changes_path)

    def undo(self) -> None:
        path = self.path_before if self.changes_path else None
        self._document._show(self.before, self.select_before, path, self.changes_path)

    def id(self) -> int:  # noqa: A003 - Qt's name
        return _MERGE_ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt's name
        if not isinstance(other, DesignEditCommand) or other.merge_key != self.merge_key:
            return False
        if other._pushed_at - self._pushed_at > MERGE_WINDOW_S:
            return False
        self.after = other.after
        self.select_after = other.select_after
        self.setText(other.text())
        self._pushed_at = other._pushed_at
        # A change back to where it started leaves nothing to undo.
        if self.after == self.before:
            self.setObsolete(True)
        return True
