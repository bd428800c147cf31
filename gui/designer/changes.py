"""What one edit did to a design, as small records the document turns into events.

An edit (``core.editing``) returns a new design; these records say how it
differs from the one before, so that views update exactly the rows involved
instead of comparing designs. Undo replays :func:`inverse` of an edit's
records, so the same events describe both directions. Nothing here knows Qt.

Indices are layer positions (0-based), each in the design as it is when that
record applies: records of one edit apply in order. A record about a stack
inside a block names that stack in ``parent`` (a stack path such as
``(4, "body")``, :mod:`convstudio.core.layer_paths`); ``()`` is the design's
own layers. For the top level, such a record changes the block that holds it
(:func:`top_level`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from convstudio.core.layer_paths import Path
from convstudio.core.shape_records import DesignReport


@dataclass(frozen=True)
class Inserted:
    """``count`` layers are new at ``index`` (the layers from ``index`` on moved down)."""

    index: int
    count: int = 1
    parent: Path = ()


@dataclass(frozen=True)
class Removed:
    """The ``count`` layers at ``index`` are gone."""

    index: int
    count: int = 1
    parent: Path = ()


@dataclass(frozen=True)
class Moved:
    """The layer at ``source`` now sits at ``target``."""

    source: int
    target: int
    parent: Path = ()


@dataclass(frozen=True)
class LayerChanged:
    """Fields of the layer at ``index`` changed (``kind`` among them when it became another kind)."""

    index: int
    fields: tuple[str, ...]
    parent: Path = ()


@dataclass(frozen=True)
class InputChanged:
    """Input settings changed: channels, height, width or depth."""

    fields: tuple[str, ...]


@dataclass(frozen=True)
class SettingsChanged:
    """Top-level settings that are not layers changed: the name, description or training section."""

    fields: tuple[str, ...]


@dataclass(frozen=True)
class Replaced:
    """Another design altogether: New, Open, a preset, a recovered autosave."""


Change = Union[Inserted, Removed, Moved, LayerChanged, InputChanged, SettingsChanged, Replaced]
Changes = tuple[Change, ...]


def inverse(change: Change) -> Change:
    """The record that undoes ``change``."""
    if isinstance(change, Inserted):
        return Removed(change.index, change.count, change.parent)
    if isinstance(change, Removed):
        return Inserted(change.index, change.count, change.parent)
    if isinstance(change, Moved):
        return Moved(change.target, change.source, change.parent)
    return change  # a field change, input change, settings change or replacement is its own inverse


def invert(changes: Changes) -> Changes:
    """The records that undo ``changes``: each inverted, in reverse order."""
    return tuple(inverse(change) for change in reversed(changes))


def follow(changes: Changes, count_after: int) -> int | None:
    """The layer an edit is about, to select it afterwards; None when it is about no layer.

    The first record names the layer; later records of the same edit shift it
    (a fix that changes layer 3 and inserts a layer before it is about layer 4).
    After a removal, the layer that took the removed one's place (or the last)
    is meant. -1 means the input. ``count_after`` is the number of layers after the edit.
    """
    target: int | None = None
    for change in changes:
        if isinstance(change, Inserted):
            if target is None:
                target = change.index
            elif target >= change.index:
                target += change.count
        elif isinstance(change, Removed):
            end = change.index + change.count
            if target is None or change.index <= target < end:
                target = change.index  # the layer that took its place
            elif target >= end:
                target -= change.count
        elif isinstance(change, Moved):
            if target is None or target == change.source:
                target = change.target
            elif change.source < target <= change.target:
                target -= 1
            elif change.target <= target < change.source:
                target += 1
        elif isinstance(change, LayerChanged):
            target = change.index if target is None else target
        elif isinstance(change, InputChanged):
            target = -1 if target is None else target
        elif isinstance(change, Replaced):
            target = 0
    if target is None or target < 0:
        return target
    if count_after == 0:
        return -1
    return min(target, count_after - 1)


def follow_shift(positions: list, change: Change) -> bool:
    """Apply an insert, removal or move to ``positions`` (one entry per layer; None for a new one).

    Returns False, leaving ``positions`` alone, for any other change.
    """
    if isinstance(change, Inserted):
        positions[change.index:change.index] = [None] * change.count
    elif isinstance(change, Removed):
        del positions[change.index:change.index + change.count]
    elif isinstance(change, Moved):
        positions.insert(change.target, positions.pop(change.source))
    else:
        return False
    return True


def old_positions(changes: Changes, count_before: int, count_after: int) -> list[int | None]:
    """For each layer after the edit, its position before (None: new, replaced or its fields changed).

    Views use it to keep what they drew for a layer that only moved, e.g. the
    shape results of rows below an inserted one.
    """
    positions: list[int | None] = list(range(count_before))
    for change in changes:
        if follow_shift(positions, change):
            continue
        if isinstance(change, LayerChanged):
            positions[change.index] = None
        elif isinstance(change, Replaced):
            return [None] * count_after
    return positions


def rechecked_layers(before: DesignReport, after: DesignReport, changes: Changes) -> tuple[int, ...]:
    """The layers (positions after the edit) whose shape results a view must redraw.

    A layer that only moved keeps its results when what it receives, its name
    and its own verdict are the same: its settings did not change, so neither
    did its formula or parameters. New and changed layers are always listed,
    and so is every layer from the first failing one on when that one changed
    (the rows after it say "after a failing layer" and name it).
    """
    positions = old_positions(changes, len(before.layers), len(after.layers))
    old_layers = before.layers
    listed = []
    for index, (position, new) in enumerate(zip(positions, after.layers)):
        if position is None:
            listed.append(index)
            continue
        old = old_layers[position]
        if old is new:  # the recheck kept its result: same place, same everything
            continue
        if (old.input_shape != new.input_shape or old.output_shape != new.output_shape or old.name != new.name
                or old.params != new.params or old.problem != new.problem
                or (new.problem is not None and position != index)):  # its message says "layer N"
            listed.append(index)
    first_before = _first_problem(before)
    first_after = _first_problem(after)
    if first_before != first_after:
        start = min(first[0] for first in (first_before, first_after) if first is not None)
        listed = sorted(set(listed).union(range(start, len(after.layers))))
    return tuple(listed)


def _first_problem(report: DesignReport) -> tuple[int, str, str] | None:
    if not report.problems:
        return None
    first = report.problems[0]
    return first.index, first.label, str(first.problem)


def top_level(changes: Changes) -> Changes:
    """The records as the design's own layers see them: a record inside a block changes that block."""
    if all(getattr(change, "parent", ()) == () for change in changes):
        return changes
    records: list[Change] = []
    for change in changes:
        parent = getattr(change, "parent", ())
        if not parent:
            records.append(change)
            continue
        record = LayerChanged(parent[0], (parent[1],))
        if not records or records[-1] != record:
            records.append(record)
    return tuple(records)


INPUT_TARGET = "input"
"""What :func:`follow_path` gives when an edit is about the input."""


def _within(target: Path | None, stack: Path) -> bool:
    return target is not None and len(target) > len(stack) and target[:len(stack)] == stack


def _shifted(target: Path, depth: int, delta: int) -> Path:
    return (*target[:depth], target[depth] + delta, *target[depth + 1:])


def follow_path(changes: Changes) -> Path | str | None:
    """The layer (path) an edit is about, to select it afterwards, as :func:`follow` does for the top level.

    The first record names the layer; later records of the same edit shift it.
    :data:`INPUT_TARGET` for the input, None when the edit is about no layer.
    The path may lie beyond its stack's end (after a removal): the document clamps it.
    """
    if len(changes) == 2 and isinstance(changes[0], Removed) and isinstance(changes[1], Inserted):
        moved = changes[1]  # a move from one stack to another: about the layer where it landed
        return (*moved.parent, moved.index)
    target: Path | str | None = None
    for change in changes:
        if isinstance(change, InputChanged):
            target = INPUT_TARGET if target is None else target
            continue
        if isinstance(change, Replaced):
            target = (0,)
            continue
        if isinstance(change, SettingsChanged) or target == INPUT_TARGET:
            continue
        stack, depth = change.parent, len(change.parent)
        inside = _within(target, stack)
        if isinstance(change, Inserted):
            if target is None:
                target = (*stack, change.index)
            elif inside and target[depth] >= change.index:
                target = _shifted(target, depth, change.count)
        elif isinstance(change, Removed):
            end = change.index + change.count
            if target is None or (inside and change.index <= target[depth] < end):
                target = (*stack, change.index)
            elif inside and target[depth] >= end:
                target = _shifted(target, depth, -change.count)
        elif isinstance(change, Moved):
            if target is None or (inside and target[depth] == change.source):
                tail = target[depth + 1:] if target is not None else ()
                target = (*stack, change.target, *tail)
            elif inside and change.source < target[depth] <= change.target:
                target = _shifted(target, depth, -1)
            elif inside and change.target <= target[depth] < change.source:
                target = _shifted(target, depth, +1)
        elif isinstance(change, LayerChanged) and target is None:
            target = (*stack, change.index)
    return target
