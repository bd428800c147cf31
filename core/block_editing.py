"""Editing layers inside blocks: pure operations on layers addressed by paths, each returning a new Design.

Layers inside blocks are addressed by paths such as ``(4, "body", 1)``
(:mod:`convstudio.core.layer_paths`); the ``*_at`` operations take them, and
rebuild only the blocks on the way down, so every other layer object is kept.
Top-level edits, the validation sentences and :class:`EditError` are
:mod:`convstudio.core.editing`'s; a top-level path goes to those edits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from convstudio.core.design import Design
from convstudio.core.editing import (
    EditError, _changed_settings, _explain, _LayerList, _with, layer_from_data, set_layer_fields,
)
from convstudio.core.layer_paths import Path, layer_at, parent_of, path_label, stack_at
from convstudio.core.layers import Concat, LayerBase, Residual
from convstudio.core.shape_records import LayerFix

_STACK_FIELDS = {"residual": ("body", "shortcut"), "concat": ("branches",)}


def _with_part(block: LayerBase, part: str, layers: list[LayerBase]) -> LayerBase:
    """A copy of ``block`` whose stack ``part`` holds ``layers`` (its other layer objects kept)."""
    if isinstance(block, Concat) and part.startswith("branches."):
        branches = list(block.branches)
        branches[int(part.split(".", 1)[1])] = layers
        return block.model_copy(update={"branches": branches})
    if isinstance(block, Residual) and part in ("body", "shortcut"):
        return block.model_copy(update={part: layers})
    raise EditError(f"a {block.kind} layer has no part {part!r}")


def _replace_stack(design: Design, stack_path: Path, layers: list[LayerBase]) -> Design:
    """``design`` whose stack at ``stack_path`` holds ``layers``: the blocks above it are rebuilt, nothing else."""
    if not stack_path:
        return _with(design, layers=layers)
    block_path, part = stack_path[:-1], stack_path[-1]
    block = layer_at(design.layers, block_path)
    return replace_at(design, block_path, _with_part(block, part, layers))


def _check_path(design: Design, path: Path) -> None:
    """Raise EditError unless ``path`` names a layer of ``design``."""
    try:
        stack_path, index = parent_of(path)
        stack = _check_stack(design, stack_path)
    except ValueError:
        raise EditError(f"{path!r} is not a layer's place") from None
    if not 0 <= index < len(stack):
        where = "the design" if not stack_path else path_label(design.layers, stack_path[:-1]) + f" > {stack_path[-1]}"
        raise EditError(f"no layer {index + 1}: {where} has {len(stack)} layers")


def _check_stack(design: Design, stack_path: Path) -> list[LayerBase]:
    """The stack at ``stack_path``, or EditError naming what is missing."""
    try:
        return list(stack_at(design.layers, stack_path))
    except (IndexError, KeyError, TypeError):
        raise EditError(f"the design has no stack at {stack_path!r}") from None


def layer_path_label(design: Design, path: Path) -> str:
    """``layer 5 (residual) > body > layer 2 (conv2d)``: where ``path`` sits, for messages and undo texts."""
    return path_label(design.layers, path)


def replace_at(design: Design, path: Path, layer: LayerBase) -> Design:
    """``design`` with the layer at ``path`` replaced by ``layer``."""
    _check_path(design, path)
    stack_path, index = parent_of(path)
    layers = list(stack_at(design.layers, stack_path))
    layers[index] = layer
    return _replace_stack(design, stack_path, layers)


def insert_at(design: Design, path: Path, layer: LayerBase) -> Design:
    """``design`` with ``layer`` inserted at ``path`` (before the layer there; the stack's length appends)."""
    try:
        stack_path, index = parent_of(path)
    except ValueError:
        raise EditError(f"{path!r} is not a layer's place") from None
    layers = _check_stack(design, stack_path)
    if not 0 <= index <= len(layers):
        raise EditError(f"no place {index + 1} in a stack of {len(layers)} layers")
    layers.insert(index, layer)
    return _replace_stack(design, stack_path, layers)


def remove_at(design: Design, path: Path) -> Design:
    """``design`` without the layer at ``path`` (a block goes with everything in it)."""
    _check_path(design, path)
    stack_path, index = parent_of(path)
    layers = list(stack_at(design.layers, stack_path))
    del layers[index]
    return _replace_stack(design, stack_path, layers)


def place_after_removal(place: Path, removed: Path) -> Path:
    """Where the slot ``place`` (a layer path) is once the layer at ``removed`` is gone."""
    stack_path, index = parent_of(removed)
    depth = len(stack_path)
    if place[:depth] != stack_path or len(place) <= depth:
        return place
    position = place[depth]
    if len(place) == depth + 1:  # the same stack
        return (*stack_path, position - 1) if position > index else place
    if position == index:
        raise EditError("a block cannot be moved into itself")
    if position > index:
        return (*stack_path, position - 1, *place[depth + 1:])
    return place


def move_to(design: Design, source: Path, place: Path) -> tuple[Design, Path]:
    """``design`` with the layer at ``source`` moved to the slot ``place``, and where it ended up.

    ``place`` is a slot in the design as it is *before* the move (what a drop
    between two rows names): the layer lands in front of whatever is at
    ``place`` now, or at the end of that stack. Moving a block into itself is refused.
    """
    _check_path(design, source)
    layer = layer_at(design.layers, source)
    if place[:len(source)] == source and len(place) > len(source):
        raise EditError("a block cannot be moved into itself")
    target = place_after_removal(place, source)
    moved = insert_at(remove_at(design, source), target, layer)
    return moved, target


def duplicate_at(design: Design, path: Path) -> Design:
    """``design`` with a copy of the layer at ``path`` right after it (the copy's own name is dropped)."""
    _check_path(design, path)
    copy = layer_at(design.layers, path).model_copy(update={"name": None})
    stack_path, index = parent_of(path)
    return insert_at(design, (*stack_path, index + 1), copy)


def set_fields_at(design: Design, path: Path, changes: Mapping[str, Any]) -> Design:
    """``design`` with some fields of the layer at ``path`` changed (top-level paths: :func:`set_layer_fields`).

    A block's stacks may be given as design-file data too (``{"shortcut": [{"kind": ...}]}``).
    Raises EditError naming where the layer sits and the field when a value is refused.
    """
    if len(path) == 1:
        _check_path(design, path)
        return set_layer_fields(design, path[0], changes)
    _check_path(design, path)
    old = layer_at(design.layers, path)
    label = layer_path_label(design, path)
    kind, cls, data = _changed_settings(old, _layer_data_shallow(old), changes, label)
    try:
        layer = cls.model_validate(data)
    except ValidationError:
        text = _explain(_LayerList, {"layers": [{"kind": kind, **_plain_data(data)}]})
        raise EditError(text.replace(f"layer 1 ({kind})", label, 1)) from None
    return replace_at(design, path, layer)


def _layer_data_shallow(layer: LayerBase) -> dict[str, Any]:
    """A layer's fields with its inner stacks as the layer objects they hold (not dumped)."""
    data = {"kind": layer.kind}
    for name in type(layer).model_fields:
        if name != "kind":
            data[name] = getattr(layer, name)
    return data


def _plain_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with layer objects dumped, as a design file would hold it (for error messages)."""
    from convstudio.core.layers import layer_to_data

    def plain(value):
        if isinstance(value, LayerBase):
            return layer_to_data(value)
        if isinstance(value, list):
            return [plain(item) for item in value]
        return value

    return {key: plain(value) for key, value in data.items()}


def set_field_at(design: Design, path: Path, field: str, value: Any) -> Design:
    """``design`` with one field of the layer at ``path`` set to ``value``."""
    return set_fields_at(design, path, {field: value})


def wrap_in_residual(design: Design, first: Path, count: int = 1) -> Design:
    """``design`` with ``count`` layers from ``first`` on (one stack) made the body of a new residual block.

    The block has the identity shortcut and a ReLU after the sum, and takes the
    place of the first wrapped layer.
    """
    _check_path(design, first)
    stack_path, index = parent_of(first)
    layers = list(stack_at(design.layers, stack_path))
    if count < 1 or index + count > len(layers):
        raise EditError(f"cannot wrap {count} layers from {layer_path_label(design, first)}: "
                        f"the stack has {len(layers)} layers")
    block = Residual(body=layers[index:index + count])
    layers[index:index + count] = [block]
    return _replace_stack(design, stack_path, layers)


def unwrap(design: Design, path: Path) -> tuple[Design, int]:
    """``design`` with the block at ``path`` replaced by its layers, and how many layers took its place.

    A residual block gives its body (its shortcut and the sum go); a concat
    block gives its one non-empty branch, and is refused while several
    branches hold layers (the joined channels would be lost silently).
    """
    _check_path(design, path)
    block = layer_at(design.layers, path)
    label = layer_path_label(design, path)
    if isinstance(block, Residual):
        inner = list(block.body)
    elif isinstance(block, Concat):
        filled = [branch for branch in block.branches if branch]
        if len(filled) > 1:
            raise EditError(f"{label} has {len(filled)} branches with layers: remove all but one "
                            "branch before unwrapping it")
        inner = list(filled[0]) if filled else []
    else:
        raise EditError(f"{label} is not a block: only residual and concat blocks can be unwrapped")
    stack_path, index = parent_of(path)
    layers = list(stack_at(design.layers, stack_path))
    layers[index:index + 1] = inner
    return _replace_stack(design, stack_path, layers), len(inner)


def add_branch(design: Design, path: Path, position: int | None = None) -> Design:
    """``design`` with an empty branch (the input passed through) added to the concat block at ``path``."""
    _check_path(design, path)
    block = layer_at(design.layers, path)
    if not isinstance(block, Concat):
        raise EditError(f"{layer_path_label(design, path)} is not a concat block: only those have branches")
    branches = list(block.branches)
    branches.insert(len(branches) if position is None else position, [])
    return replace_at(design, path, block.model_copy(update={"branches": branches}))


def remove_branch(design: Design, path: Path, branch: int) -> Design:
    """``design`` without branch ``branch`` (0-based) of the concat block at ``path``; its last branch stays."""
    _check_path(design, path)
    block = layer_at(design.layers, path)
    label = layer_path_label(design, path)
    if not isinstance(block, Concat):
        raise EditError(f"{label} is not a concat block: only those have branches")
    if not 0 <= branch < len(block.branches):
        raise EditError(f"{label} has no branch {branch + 1}")
    if len(block.branches) == 1:
        raise EditError(f"{label} needs at least one branch; unwrap or remove the block instead")
    branches = list(block.branches)
    del branches[branch]
    return replace_at(design, path, block.model_copy(update={"branches": branches}))


def apply_fix_at(design: Design, path: Path, fix: LayerFix) -> Design:
    """``design`` with one of the shape engine's fixes applied to the layer at ``path``.

    ``path`` is the layer the fix edits (``fix.path`` already followed from the
    record that listed it). ``fix.changes`` are set on the layer (a block's
    stacks as design-file data, e.g. a new ``shortcut``); ``fix.insert_before``
    is inserted in front of it.
    """
    if fix.changes:
        design = set_fields_at(design, path, fix.changes)
    if fix.insert_before:
        design = insert_at(design, path, layer_from_data(fix.insert_before))
    return design


def stack_fields(kind: str) -> tuple[str, ...]:
    """The fields of a block kind that hold stacks of layers (edited in the stack, not in a form)."""
    return _STACK_FIELDS.get(kind, ())

