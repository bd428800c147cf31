"""The document's edits of layers inside blocks, addressed by paths such as ``(4, "body", 1)``.

Each is one undo step through :meth:`DesignDocument.push_edit
<convstudio.gui.designer.document.DesignDocument.push_edit>`, with change
records that name the stack they touch (``parent``), so the document can say
which rows changed and what to select afterwards. A top-level path goes to the
document's own top-level edit, whose records the plain-design fast path knows.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from convstudio.core import block_editing, editing
from convstudio.core.layer_paths import Path as LayerPath, parent_of
from convstudio.core.layers import LayerBase
from convstudio.core.shape_records import LayerFix
from convstudio.gui.designer.changes import Changes, Inserted, LayerChanged, Moved, Removed
from convstudio.gui.designer.layer_text import kind_title


class BlockEdits:
    """Path-addressed edits, mixed into the document (which provides ``push_edit`` and the top-level edits)."""

    def module_name(self, path: LayerPath) -> str:
        """The module name of the layer at ``path`` as the report gives it (``res1.body.conv2``)."""
        try:
            names = [self.report.layers[path[0]].name]
            record = self.report.layers[path[0]]
            for part, index in zip(path[1::2], path[2::2]):
                record = record.stack(part).layers[index]
                names += [part, record.name]
            return ".".join(names)
        except (AttributeError, IndexError, KeyError):
            return block_editing.layer_path_label(self.design, path)

    def location(self, path: LayerPath, record) -> str:
        """Where the problem of the record at ``path`` sits: ``layer 5 (residual) > body > layer 2 (conv2d)``."""
        inner = record.problem.path if record is not None and record.problem is not None else ()
        return block_editing.layer_path_label(self.design, (*path, *inner))

    def insert_layer_at(self, path: LayerPath, layer: LayerBase) -> str | None:
        """Insert ``layer`` at ``path`` (before the layer there, or at the end of its stack); selects it."""
        if len(path) == 1:
            return self.insert_layer(path[0], layer)
        stack_path, index = parent_of(path)
        return self.push_edit(f"Add {kind_title(layer.kind)}", block_editing.insert_at, path, layer,
                              changes=(Inserted(index, 1, stack_path),))

    def insert_kind_at(self, path: LayerPath, kind: str) -> str | None:
        """Insert a new layer of ``kind`` with default settings at ``path``."""
        return self.insert_layer_at(path, editing.new_layer(kind))

    def remove_at(self, path: LayerPath) -> str | None:
        """Remove the layer at ``path`` (a block with everything in it)."""
        if len(path) == 1:
            return self.remove_layer(path[0])
        stack_path, index = parent_of(path)
        return self.push_edit(f"Remove {self.module_name(path)}", block_editing.remove_at, path,
                              changes=(Removed(index, 1, stack_path),))

    def duplicate_at(self, path: LayerPath) -> str | None:
        """Put a copy of the layer at ``path`` right after it; selects the copy."""
        if len(path) == 1:
            return self.duplicate_layer(path[0])
        stack_path, index = parent_of(path)
        return self.push_edit(f"Duplicate {self.module_name(path)}", block_editing.duplicate_at, path,
                              changes=(Inserted(index + 1, 1, stack_path),))

    def move_to(self, source: LayerPath, place: LayerPath) -> str | None:
        """Move the layer at ``source`` to the slot ``place`` (a slot of the design before the move)."""
        try:
            _moved, target = block_editing.move_to(self.design, source, place)
        except editing.EditError as error:
            return str(error)
        source_stack, source_index = parent_of(source)
        target_stack, target_index = parent_of(target)
        if source_stack == target_stack:
            if source_index == target_index:
                return None
            if not source_stack:
                return self.move_layer(source_index, target_index)
            changes: Changes = (Moved(source_index, target_index, source_stack),)
        else:
            changes = (Removed(source_index, 1, source_stack), Inserted(target_index, 1, target_stack))
        return self.push_edit(f"Move {self.module_name(source)}", lambda design: block_editing.move_to(design, source, place)[0],
                              changes=changes)

    def set_field_at(self, path: LayerPath, field: str, value: Any) -> str | None:
        """Set one field of the layer at ``path``; quick successive changes of one field merge."""
        if len(path) == 1:
            return self.set_layer_field(path[0], field, value)
        stack_path, index = parent_of(path)
        return self.push_edit(f"Set {self.module_name(path)}.{field}", block_editing.set_field_at, path, field, value,
                              changes=(LayerChanged(index, (field,), stack_path),),
                              merge_key=("layer", path, field))

    def apply_fix_at(self, path: LayerPath, fix: LayerFix) -> str | None:
        """Apply a shape-engine fix to the layer at ``path`` (``fix.path`` already added); it stays selected."""
        if len(path) == 1:
            return self.apply_fix(path[0], replace(fix, path=()))
        stack_path, index = parent_of(path)
        changes: Changes = (LayerChanged(index, tuple(fix.changes or ()), stack_path),)
        if fix.insert_before:
            changes += (Inserted(index, 1, stack_path),)
        return self.push_edit(f"Fix: {fix.description}", block_editing.apply_fix_at, path, fix, changes=changes)

    def wrap_in_residual(self, first: LayerPath, count: int = 1) -> str | None:
        """Make ``count`` layers from ``first`` on the body of a new residual block (identity shortcut)."""
        stack_path, index = parent_of(first)
        text = f"Wrap {count} layer{'s' if count != 1 else ''} in a residual block"
        return self.push_edit(text, block_editing.wrap_in_residual, first, count,
                              changes=(Inserted(index, 1, stack_path), Removed(index + 1, count, stack_path)))

    def unwrap(self, path: LayerPath) -> str | None:
        """Replace the block at ``path`` by its layers (a residual's body, a concat's one branch)."""
        try:
            _after, count = block_editing.unwrap(self.design, path)
        except editing.EditError as error:
            return str(error)
        stack_path, index = parent_of(path)
        changes: Changes = (Removed(index, 1, stack_path),)
        if count:
            changes = (Inserted(index, count, stack_path), Removed(index + count, 1, stack_path))
        return self.push_edit(f"Unwrap {self.module_name(path)}", lambda design: block_editing.unwrap(design, path)[0],
                              changes=changes)

    def add_branch(self, path: LayerPath) -> str | None:
        """Add an empty branch (the input itself) to the concat block at ``path``."""
        stack_path, index = parent_of(path)
        return self.push_edit(f"Add a branch to {self.module_name(path)}", block_editing.add_branch, path,
                              changes=(LayerChanged(index, ("branches",), stack_path),))

    def remove_branch(self, path: LayerPath, branch: int) -> str | None:
        """Remove branch ``branch`` (0-based) of the concat block at ``path``."""
        stack_path, index = parent_of(path)
        return self.push_edit(f"Remove branch {branch + 1} of {self.module_name(path)}", block_editing.remove_branch,
                              path, branch, changes=(LayerChanged(index, ("branches",), stack_path),))
