"""The open design: its current value, file path, modified flag and undo stack.

:class:`DesignDocument` is the one model the window's views listen to. Every
edit goes through :meth:`DesignDocument.push_edit`, which turns a pure
``core.editing`` operation into one undoable step; when the design changes, the
document rechecks its shapes once with ``core.shapes.infer_shapes`` and emits
:attr:`~DesignDocument.changed`. Views redraw from ``document.design`` and
``document.report``; none keeps a copy of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QUndoStack

from convstudio.core import editing
from convstudio.core.design import Design, save_design
from convstudio.core.layers import LayerBase
from convstudio.core.presets import load_preset
from convstudio.core.shape_records import DesignReport, LayerFix
from convstudio.core.shapes import infer_shapes
from convstudio.gui.designer.layer_text import kind_title
from convstudio.gui.designer.undo_commands import DesignEditCommand

INPUT_ROW = 0


def layer_row(index: int) -> int:
    """The stack row showing layer ``index`` (row 0 is the input)."""
    return index + 1


class DesignDocument(QObject):
    """The design being edited, with its undo history. Emits ``changed`` after every change."""

    changed = Signal()
    """The design (and so ``report``) changed: by an edit, undo, redo, open or new."""
    selection_requested = Signal(int)
    """A stack row the views should select, e.g. the layer just inserted."""
    modified_changed = Signal(bool)
    path_changed = Signal(object)

    def __init__(self, design: Design, path: str | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._design = design
        self._report = infer_shapes(design)
        self._path = path
        self._selected_row: int | None = None
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)

    # -- what views read -------------------------------------------------
    @property
    def design(self) -> Design:
        """The current design (an immutable value: edit through the document)."""
        return self._design

    @property
    def report(self) -> DesignReport:
        """The shape engine's report of :attr:`design`."""
        return self._report

    @property
    def path(self) -> str | None:
        """The file the design was opened from or saved to; None for presets and new designs."""
        return self._path

    @property
    def modified(self) -> bool:
        """True when there are changes since the design was opened or saved."""
        return not self.undo_stack.isClean()

    @property
    def display_name(self) -> str:
        """The file name, or the design's name when it has no file."""
        return Path(self._path).name if self._path else self._design.name

    # -- whole documents ---------------------------------------------------
    def reset(self, design: Design, path: str | None = None) -> None:
        """Show another design with a fresh history (New, Open, recovery)."""
        self.undo_stack.clear()
        self._set_path(path)
        self._show(design, INPUT_ROW if not design.layers else layer_row(0))
        self.undo_stack.setClean()
        self.modified_changed.emit(False)

    def save(self, path: str | None = None) -> None:
        """Write the design to ``path`` (or its own path) atomically and mark it unmodified."""
        target = path or self._path
        if target is None:
            raise ValueError("the design has no file yet; give a path")
        save_design(self._design, target)
        self._set_path(str(target))
        self.undo_stack.setClean()

    # -- edits: each is one undo step --------------------------------------
    def push_edit(
        self,
        text: str,
        operation: Callable[..., Design],
        *args: Any,
        select_after: int | None = None,
        merge_key: Hashable | None = None,
    ) -> str | None:
        """Apply ``operation(design, *args)`` as one undoable step.

        Returns None on success, or the readable reason when the change is
        refused (``core.editing.EditError``); nothing changes then.
        """
        try:
            after = operation(self._design, *args)
        except editing.EditError as error:
            return str(error)
        if after == self._design:
            return None
        self.undo_stack.push(
            DesignEditCommand(self, text, self._design, after, self._selected_row, select_after, merge_key)
        )
        return None

    def insert_layer(self, index: int, layer: LayerBase) -> str | None:
        """Insert ``layer`` before layer ``index``; selects it."""
        return self.push_edit(f"Add {kind_title(layer.kind)}", editing.insert_layer, index, layer,
                              select_after=layer_row(index))

    def insert_kind(self, index: int, kind: str) -> str | None:
        """Insert a new layer of ``kind`` with default settings before layer ``index``."""
        return self.insert_layer(index, editing.new_layer(kind))

    def remove_layer(self, index: int) -> str | None:
        """Remove layer ``index``; selects the row that takes its place."""
        name = self._report.layers[index].name
        remaining = len(self._design.layers) - 1
        return self.push_edit(f"Remove {name}", editing.remove_layer, index,
                              select_after=layer_row(min(index, remaining - 1)) if remaining else INPUT_ROW)

    def move_layer(self, source: int, target: int) -> str | None:
        """Move layer ``source`` so that it ends at position ``target``."""
        if source == target:
            return None
        name = self._report.layers[source].name
        return self.push_edit(f"Move {name}", editing.move_layer, source, target, select_after=layer_row(target))

    def duplicate_layer(self, index: int) -> str | None:
        """Put a copy of layer ``index`` right after it; selects the copy."""
        name = self._report.layers[index].name
        return self.push_edit(f"Duplicate {name}", editing.duplicate_layer, index,
                              select_after=layer_row(index + 1))

    def set_layer_field(self, index: int, field: str, value: Any) -> str | None:
        """Set one field of layer ``index``; quick successive changes of one field merge."""
        name = self._report.layers[index].name
        return self.push_edit(f"Set {name}.{field}", editing.set_layer_field, index, field, value,
                              select_after=layer_row(index), merge_key=("layer", index, field))

    def set_input_field(self, field: str, value: Any) -> str | None:
        """Set one input setting (channels, height, width, depth)."""
        return self.push_edit(f"Set input {field}", editing.set_input_field, field, value,
                              select_after=INPUT_ROW, merge_key=("input", field))

    def apply_fix(self, index: int, fix: LayerFix) -> str | None:
        """Apply one of the shape engine's fixes to layer ``index``."""
        return self.push_edit(f"Fix: {fix.description}", editing.apply_fix, index, fix,
                              select_after=layer_row(editing.fixed_layer_index(index, fix)))

    def load_preset(self, key: str) -> None:
        """Replace the design by a preset as one undoable step (the file path is dropped)."""
        design = load_preset(key)
        if design == self._design and self._path is None:
            return  # already showing this preset
        command = DesignEditCommand(
            self, f"Load preset {design.name}", self._design, design, self._selected_row, layer_row(0),
            path_before=self._path, path_after=None, changes_path=True,
        )
        self.undo_stack.push(command)

    # -- selection, as a hint for views -------------------------------------
    def note_selection(self, row: int | None) -> None:
        """Remember the selected stack row, so undo can select it again."""
        self._selected_row = row

    # -- internals --------------------------------------------------------------
    @Slot(bool)
    def _on_clean_changed(self, clean: bool) -> None:
        self.modified_changed.emit(not clean)

    def _set_path(self, path: str | None) -> None:
        if path != self._path:
            self._path = path
            self.path_changed.emit(path)

    def _show(self, design: Design, select: int | None, path: str | None = None, changes_path: bool = False) -> None:
        self._design = design
        self._report = infer_shapes(design)
        if changes_path:
            self._set_path(path)
        self.changed.emit()
        if select is not None:
            self.selection_requested.emit(select)
