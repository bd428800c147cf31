"""The open design: its current value, file path, modified flag, undo stack and selection.

:class:`DesignDocument` is the one model the window's views listen to. Every
edit goes through the document as one undoable step that says what it changed
(:mod:`convstudio.gui.designer.changes`). When the design changes, the
document rechecks its shapes once (``core.shapes.recheck``: what
``infer_shapes`` finds, reusing the results of the layers the edit did not reach) and emits
granular events on :attr:`DesignDocument.events`, as napari's EventedList
does: layers inserted, removed, moved or changed, the input or the design's
settings changed, the whole design replaced, and which layers' shape results
differ after the recheck. Undo and redo emit the same events for the steps
they take back or repeat. Views update just what the events name, reading
``document.design`` and ``document.report``; none keeps a copy of its own.

The selected stack row is view state kept here so that every view shows the
same row: selecting never becomes an undo step. After an edit (or its undo)
the document selects the layer the step was about. So are the stack's rows
(:class:`~convstudio.gui.designer.stack_rows.StackLayout`): blocks show their
parts and inner layers beneath them unless collapsed, and the document says
which rows an edit, a collapse or an expand inserted, removed or moved
(``rows_inserted``, ``rows_removed``, ``rows_moved``). Layers inside blocks are
edited by path (``(4, "body", 1)``, :mod:`convstudio.core.layer_paths`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QUndoStack

from convstudio.core import editing
from convstudio.core.design import Design, save_design
from convstudio.core.layer_paths import Path as LayerPath
from convstudio.core.layers import LayerBase
from convstudio.core.presets import load_preset
from convstudio.core.shape_records import DesignReport, LayerFix
from convstudio.core.shapes import infer_shapes, recheck
from convstudio.gui.designer.block_edits import BlockEdits
from convstudio.gui.designer.changes import (
    Changes, InputChanged, Inserted, LayerChanged, Moved, Removed, Replaced, SettingsChanged,
    follow_path, rechecked_layers, top_level,
)
from convstudio.gui.designer.layer_text import kind_title
from convstudio.gui.designer.stack_rows import (
    INPUT_KEY, LAYER, MERGE, PART, RowKey, StackLayout, key_for_target, remap_collapsed, splice,
)
from convstudio.gui.designer.undo_commands import DesignEditCommand

INPUT_ROW = 0


def layer_row(index: int) -> int:
    """The stack row showing layer ``index`` (row 0 is the input)."""
    return index + 1


class DocumentEvents(QObject):
    """What changed in the document, with payloads. Layer indices are 0-based positions in the design.

    For one edit the events come in this order: the structural and field
    events (``inserted``, ``removed``, ``moved``, ``layer_changed``,
    ``input_changed``, ``settings_changed`` or ``replaced``), then
    ``rechecked``, then the document's coarse ``changed``, then ``selection``.
    When any of them is emitted, ``document.design`` and ``document.report``
    already hold the result of the whole edit.
    """

    inserted = Signal(int, int)
    """(index, count): ``count`` new layers at ``index``."""
    removed = Signal(int, int)
    """(index, count): the ``count`` layers that were at ``index`` are gone."""
    moved = Signal(int, int)
    """(source, target): the layer at ``source`` now sits at ``target``."""
    layer_changed = Signal(int, object)
    """(index, fields): fields (a tuple of names) of the layer at ``index`` changed."""
    input_changed = Signal(object)
    """(fields): input settings changed."""
    settings_changed = Signal(object)
    """(fields): the design's name, description or training section changed."""
    replaced = Signal()
    """Another design altogether (New, Open, a preset, recovery, or the undo of one)."""
    rechecked = Signal(object)
    """(indices): the layers whose shape results (or names, or validity) differ after the recheck."""
    selection = Signal(int)
    """(row): the selected stack row (0 the input, 1.. the layers and, in blocks, their parts)."""
    rows_inserted = Signal(int, int)
    """(row, count): ``count`` new stack rows at ``row`` (emitted before the layer events of the edit)."""
    rows_removed = Signal(int, int)
    """(row, count): the ``count`` stack rows that were at ``row`` are gone."""
    rows_moved = Signal(int, int)
    """(source, target): the stack row at ``source`` now sits at ``target``."""
    collapsed = Signal(object)
    """(path): the block at ``path`` was collapsed or expanded (its rows' events come first)."""


class DesignDocument(QObject, BlockEdits):
    """The design being edited, with its undo history; its ``events`` say what each change did.

    Edits of layers inside blocks (by path) come from :class:`~convstudio.gui.designer.block_edits.BlockEdits`.
    """

    changed = Signal()
    """After every change, once its granular events are out: for listeners that need the
    whole design rather than rows (autosave, the window title, the training settings)."""
    modified_changed = Signal(bool)
    path_changed = Signal(object)

    def __init__(self, design: Design, path: str | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.events = DocumentEvents(self)
        self._design = design
        self._report = infer_shapes(design)
        self._path = path
        self._selected_row = INPUT_ROW
        self._selected_key: RowKey = INPUT_KEY
        self._collapsed: frozenset = frozenset()
        self._layout = StackLayout(design)
        self._updating = False
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

    @property
    def updating(self) -> bool:
        """True while the events of one change are being emitted (views then follow, not lead)."""
        return self._updating

    # -- selection: view state, never an undo step ---------------------------
    @property
    def selected_row(self) -> int:
        """The selected stack row: 0 the input, 1.. the layers."""
        return self._selected_row

    def select(self, row: int) -> None:
        """Select stack row ``row`` in every view (clamped to the rows there are)."""
        self._select(row, force=False)

    @property
    def layout(self) -> StackLayout:
        """The stack's rows: what each row shows (views read it, never keep a copy)."""
        return self._layout

    @property
    def selected_key(self) -> RowKey:
        """What the selected row shows: (role, path), see :mod:`~convstudio.gui.designer.stack_rows`."""
        return self._selected_key

    @property
    def selected_path(self) -> LayerPath | None:
        """The layer the selection is about: a layer row's layer, a part's or merge row's block; None for the input."""
        role, path = self._selected_key
        if role == LAYER or role == MERGE:
            return path
        if role == PART:
            return path[:-1]
        return None

    def select_path(self, path: LayerPath | None, role: str = LAYER) -> None:
        """Select the row showing layer ``path`` (or its block's part/merge row); None the input."""
        key = INPUT_KEY if path is None else (role, path)
        row = self._layout.number_of(self._layout.visible_key(key))
        self._select(INPUT_ROW if row is None else row, force=False)

    # -- collapsing blocks: view state, never an undo step ----------------------
    @property
    def collapsed(self) -> frozenset:
        """The blocks collapsed in the stack, by layer path (view state)."""
        return self._collapsed

    def is_collapsed(self, path: LayerPath) -> bool:
        """True when the block at ``path`` hides its parts."""
        return path in self._collapsed

    def set_collapsed(self, path: LayerPath, collapsed: bool) -> None:
        """Collapse (hide its parts and layers) or expand the block at ``path``."""
        if (path in self._collapsed) == collapsed:
            return
        if collapsed:
            self._collapsed = self._collapsed | {path}
        else:
            self._collapsed = self._collapsed - {path}
        before, key = self._layout, self._selected_key
        self._layout = StackLayout(self._design, self._collapsed)
        self._emit_splice(before, self._layout)
        self.events.collapsed.emit(path)
        row = self._layout.number_of(self._layout.visible_key(key))
        self._select(INPUT_ROW if row is None else row, force=True)

    # -- whole documents ---------------------------------------------------
    def reset(self, design: Design, path: str | None = None) -> None:
        """Show another design with a fresh history (New, Open, recovery)."""
        self.undo_stack.clear()
        self._set_path(path)
        self.apply_step(design, (Replaced(),))
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
        changes: Changes | None = None,
        merge_key: Hashable | None = None,
    ) -> str | None:
        """Apply ``operation(design, *args)`` as one undoable step.

        ``changes`` says what the operation does to the design; without it, an
        operation that leaves every layer and the input as they are is taken
        to change the design's settings, and any other to replace the design.
        Returns None on success, or the readable reason when the change is
        refused (``core.editing.EditError``); nothing changes then.
        """
        try:
            after = operation(self._design, *args)
        except editing.EditError as error:
            return str(error)
        if after == self._design:
            return None
        if changes is None:
            changes = _settings_or_replaced(self._design, after)
        self.undo_stack.push(DesignEditCommand(self, text, self._design, after, changes, merge_key))
        return None

    def insert_layer(self, index: int, layer: LayerBase) -> str | None:
        """Insert ``layer`` before layer ``index``; selects it."""
        return self.push_edit(f"Add {kind_title(layer.kind)}", editing.insert_layer, index, layer,
                              changes=(Inserted(index),))

    def insert_kind(self, index: int, kind: str) -> str | None:
        """Insert a new layer of ``kind`` with default settings before layer ``index``."""
        return self.insert_layer(index, editing.new_layer(kind))

    def remove_layer(self, index: int) -> str | None:
        """Remove layer ``index``; selects the row that takes its place."""
        name = self._report.layers[index].name
        return self.push_edit(f"Remove {name}", editing.remove_layer, index, changes=(Removed(index),))

    def move_layer(self, source: int, target: int) -> str | None:
        """Move layer ``source`` so that it ends at position ``target``."""
        if source == target:
            return None
        name = self._report.layers[source].name
        return self.push_edit(f"Move {name}", editing.move_layer, source, target, changes=(Moved(source, target),))

    def duplicate_layer(self, index: int) -> str | None:
        """Put a copy of layer ``index`` right after it; selects the copy."""
        name = self._report.layers[index].name
        return self.push_edit(f"Duplicate {name}", editing.duplicate_layer, index, changes=(Inserted(index + 1),))

    def set_layer_field(self, index: int, field: str, value: Any) -> str | None:
        """Set one field of layer ``index``; quick successive changes of one field merge."""
        name = self._report.layers[index].name
        return self.push_edit(f"Set {name}.{field}", editing.set_layer_field, index, field, value,
                              changes=(LayerChanged(index, (field,)),), merge_key=("layer", index, field))

    def set_input_field(self, field: str, value: Any) -> str | None:
        """Set one input setting (channels, height, width, depth)."""
        return self.push_edit(f"Set input {field}", editing.set_input_field, field, value,
                              changes=(InputChanged((field,)),), merge_key=("input", field))

    def apply_fix(self, index: int, fix: LayerFix) -> str | None:
        """Apply one of the shape engine's fixes to layer ``index``; the fixed layer stays selected."""
        if fix.path:  # a fix found on a block that edits a layer inside it
            return self.apply_fix_at((index, *fix.path), fix)
        # The fixed layer comes first, with no fields when the fix only inserts a layer before it,
        # so that the selection follows it (and it is redrawn: what it receives changed).
        changes: Changes = (LayerChanged(index, tuple(fix.changes or ())),)
        if fix.insert_before:
            changes += (Inserted(index),)
        return self.push_edit(f"Fix: {fix.description}", editing.apply_fix, index, fix, changes=changes)

    def load_preset(self, key: str) -> None:
        """Replace the design by a preset as one undoable step (the file path is dropped)."""
        design = load_preset(key)
        if design == self._design and self._path is None:
            return  # already showing this preset
        self.replace_design(f"Load preset {design.name}", design, drop_path=True)

    def replace_design(self, text: str, design: Design, drop_path: bool = False) -> None:
        """Replace the whole design as one undoable step (a preset, a recovered autosave)."""
        self.undo_stack.push(DesignEditCommand(
            self, text, self._design, design, (Replaced(),),
            path_before=self._path, path_after=None if drop_path else self._path, changes_path=drop_path,
        ))

    # -- applying a step (the undo commands call this) -------------------------
    def apply_step(self, design: Design, changes: Changes, path: str | None = None,
                   changes_path: bool = False, report: DesignReport | None = None) -> DesignReport:
        """Show ``design``, which differs from the current one as ``changes`` say, and emit the events.

        Called by :class:`~convstudio.gui.designer.undo_commands.DesignEditCommand`
        (with the inverted changes on undo) and by :meth:`reset`. ``report`` is
        the shape report of ``design`` when it is known already (undo and redo
        bring back a design that was checked when the step was made: designs are
        immutable values). Returns the report shown.
        """
        before = self._report
        if report is None:
            # Only the layers the step reaches are checked again; the report equals infer_shapes(design).
            report = recheck(design, self._design, before)
        self._report = report
        layout_before = self._layout
        self._collapsed = remap_collapsed(self._collapsed, changes, self._design, design)
        self._design = design
        self._layout = layout = StackLayout(design, self._collapsed)
        if changes_path:
            self._set_path(path)
        events = self.events
        layer_changes = top_level(changes)
        self._updating = True
        try:
            if layout_before.flat and layout.flat and not any(isinstance(c, Replaced) for c in changes):
                self._emit_row_records(layer_changes)  # one row per layer: rows follow the records
            elif not any(isinstance(c, Replaced) for c in changes):
                self._emit_splice(layout_before, layout)
            for change in layer_changes:
                if isinstance(change, Inserted):
                    events.inserted.emit(change.index, change.count)
                elif isinstance(change, Removed):
                    events.removed.emit(change.index, change.count)
                elif isinstance(change, Moved):
                    events.moved.emit(change.source, change.target)
                elif isinstance(change, LayerChanged):
                    events.layer_changed.emit(change.index, change.fields)
                elif isinstance(change, InputChanged):
                    events.input_changed.emit(change.fields)
                elif isinstance(change, SettingsChanged):
                    events.settings_changed.emit(change.fields)
                else:
                    events.replaced.emit()
            events.rechecked.emit(rechecked_layers(before, self._report, layer_changes))
        finally:
            self._updating = False
        self.changed.emit()
        target = follow_path(changes)
        structural = any(not isinstance(change, (LayerChanged, InputChanged, SettingsChanged))
                         for change in layer_changes)
        if target is not None:
            # Rows moved under the selection: say it again even when its number stayed.
            key = layout.visible_key(key_for_target(design.layers, target))
            row = layout.number_of(key)
            self._select(INPUT_ROW if row is None else row, force=structural or not layout.flat)
        elif structural:
            self._select(self._selected_row, force=True)
        return report

    # -- internals --------------------------------------------------------------
    def _select(self, row: int, force: bool) -> None:
        row = max(INPUT_ROW, min(row, len(self._layout) - 1))
        self._selected_key = self._layout.row(row).key
        if row != self._selected_row or force:
            self._selected_row = row
            self.events.selection.emit(row)

    def _emit_splice(self, before: StackLayout, after: StackLayout) -> None:
        """Say which rows changed between two layouts: one run of rows removed and inserted."""
        change = splice(before, after)
        if change is None:
            return
        first, removed, inserted = change
        if removed:
            self.events.rows_removed.emit(first, removed)
        if inserted:
            self.events.rows_inserted.emit(first, inserted)

    def _emit_row_records(self, changes: Changes) -> None:
        """The rows of a plain design's edit: one row per layer, after the input row."""
        events = self.events
        for change in changes:
            if isinstance(change, Inserted):
                events.rows_inserted.emit(layer_row(change.index), change.count)
            elif isinstance(change, Removed):
                events.rows_removed.emit(layer_row(change.index), change.count)
            elif isinstance(change, Moved):
                events.rows_moved.emit(layer_row(change.source), layer_row(change.target))

    @Slot(bool)
    def _on_clean_changed(self, clean: bool) -> None:
        self.modified_changed.emit(not clean)

    def _set_path(self, path: str | None) -> None:
        if path != self._path:
            self._path = path
            self.path_changed.emit(path)


def _settings_or_replaced(before: Design, after: Design) -> Changes:
    """What an edit without its own description did: changed settings only, or everything."""
    same_layers = len(before.layers) == len(after.layers) and all(
        old is new for old, new in zip(before.layers, after.layers))
    if not same_layers:
        return (Replaced(),)
    changes: Changes = ()
    if before.input != after.input:
        changes += (InputChanged(tuple(name for name in type(after.input).model_fields
                                       if getattr(before.input, name) != getattr(after.input, name))),)
    fields = tuple(name for name in type(after).model_fields
                   if name not in ("layers", "input") and getattr(before, name) != getattr(after, name))
    if fields:
        changes += (SettingsChanged(fields),)
    return changes or (Replaced(),)
