"""The rows of the layer stack: the input, the layers, and each block's parts laid out beneath it.

A plain design shows one row per layer after the input row. A block
(residual, concat) shows a row for itself and, while expanded, a header row
per stack (``body``, ``shortcut``, ``branch 1``...) with that stack's rows
indented below it, and a closing *merge* row that says how the stacks meet
(``body 128x16x16 + shortcut 128x16x16``). Each row is a :class:`StackRow`
whose ``key`` (role and path) names what it shows independently of where it
is; the selection is kept as a key, so it survives a block being collapsed
above it.

Plain designs are by far the common case, and an edit there must stay cheap:
:class:`StackLayout` then keeps no row list at all (row ``n`` is layer
``n - 1``). No Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass

from convstudio.core.design import Design
from convstudio.core.layer_paths import Path, layer_at, parent_of, stack_at
from convstudio.core.layers import BLOCK_KINDS, LayerBase, inner_stacks
from convstudio.gui.designer.changes import INPUT_TARGET, Changes, Replaced, follow_shift, top_level

INPUT, LAYER, PART, MERGE = "input", "layer", "part", "merge"

RowKey = tuple[str, Path]
"""(role, path): what a row shows. Layer and merge rows: a layer path; part rows: a stack path; input: ()."""

INPUT_KEY: RowKey = (INPUT, ())


@dataclass(frozen=True, slots=True)
class StackRow:
    """One row of the stack: its role, the path it shows, its indentation, and the layer object behind it.

    ``owner`` is the layer a layer row shows, or the block a part or merge row
    belongs to: rows whose owner is the same object look the same (see :func:`splice`).
    """

    role: str
    path: Path
    depth: int
    owner: LayerBase | None = None

    @property
    def key(self) -> RowKey:
        return self.role, self.path

    @property
    def top_index(self) -> int | None:
        """The position of the top-level layer this row belongs to (None for the input)."""
        return self.path[0] if self.path else None


INPUT_ROW_RECORD = StackRow(INPUT, (), 0)


def has_blocks(layers) -> bool:
    """True when some top-level layer is a block."""
    return any(layer.kind in BLOCK_KINDS for layer in layers)


def layer_rows(layer: LayerBase, path: Path, depth: int, collapsed: frozenset) -> list[StackRow]:
    """The rows of one layer: itself, and for an expanded block its parts, their layers and its merge."""
    rows = [StackRow(LAYER, path, depth, layer)]
    if layer.kind not in BLOCK_KINDS or path in collapsed:
        return rows
    for part, inner in inner_stacks(layer):
        stack_path = (*path, part)
        rows.append(StackRow(PART, stack_path, depth + 1, layer))
        for index, child in enumerate(inner):
            rows.extend(layer_rows(child, (*stack_path, index), depth + 2, collapsed))
    rows.append(StackRow(MERGE, path, depth + 1, layer))
    return rows


class StackLayout:
    """The rows of a design's stack, for a set of collapsed blocks (their layer paths)."""

    def __init__(self, design: Design, collapsed: frozenset = frozenset()):
        self.design = design
        self.collapsed = collapsed
        layers = design.layers
        self.flat = not has_blocks(layers)
        self._rows: list[StackRow] | None = None
        self._numbers: dict[RowKey, int] | None = None
        self._top_first: list[int] | None = None
        if not self.flat:
            rows = [INPUT_ROW_RECORD]
            firsts = []
            for index, layer in enumerate(layers):
                firsts.append(len(rows))
                rows.extend(layer_rows(layer, (index,), 0, collapsed))
            self._rows = rows
            self._top_first = firsts

    def __len__(self) -> int:
        return len(self.design.layers) + 1 if self._rows is None else len(self._rows)

    def row(self, number: int) -> StackRow:
        """The row at position ``number`` (0 the input)."""
        if self._rows is not None:
            return self._rows[number]
        if number == 0:
            return INPUT_ROW_RECORD
        return StackRow(LAYER, (number - 1,), 0, self.design.layers[number - 1])

    def rows(self) -> list[StackRow]:
        """Every row, in order."""
        if self._rows is not None:
            return self._rows
        return [self.row(number) for number in range(len(self))]

    def number_of(self, key: RowKey) -> int | None:
        """The position of the row showing ``key``, or None when no row shows it (gone, or collapsed away)."""
        role, path = key
        if role == INPUT:
            return 0
        if self._rows is None:
            if role == LAYER and len(path) == 1 and 0 <= path[0] < len(self.design.layers):
                return path[0] + 1
            return None
        if self._numbers is None:
            self._numbers = {row.key: number for number, row in enumerate(self._rows)}
        return self._numbers.get(key)

    def top_span(self, index: int) -> tuple[int, int]:
        """(first row, row count) of top-level layer ``index`` with everything shown beneath it."""
        if self._top_first is None:
            return index + 1, 1
        first = self._top_first[index]
        end = self._top_first[index + 1] if index + 1 < len(self._top_first) else len(self._rows)
        return first, end - first

    def visible_key(self, key: RowKey) -> RowKey:
        """``key``, or the row of the innermost block that shows it when collapsed blocks hide it."""
        if self.number_of(key) is not None:
            return key
        role, path = key
        blocks = [path[:end] for end in range(1, len(path), 2)]  # the blocks holding it, outermost first
        if role == MERGE:
            blocks.append(path)
        for block in reversed(blocks):
            if self.number_of((LAYER, block)) is not None:
                return LAYER, block
        return INPUT_KEY


def splice(before: StackLayout, after: StackLayout) -> tuple[int, int, int] | None:
    """The one run of rows that differs: (first row, rows removed, rows inserted); None when alike.

    Rows at the start and at the end that show the same object in the same
    role and depth are kept (an insert keeps every row below it); what lies
    between is replaced.
    """
    old, new = before.rows(), after.rows()
    limit = min(len(old), len(new))
    start = 0
    while start < limit and _same(old[start], new[start]):
        start += 1
    if start == len(old) == len(new):
        return None
    end_old, end_new = len(old), len(new)
    while end_old > start and end_new > start and _same(old[end_old - 1], new[end_new - 1]):
        end_old -= 1
        end_new -= 1
    return start, end_old - start, end_new - start


def _same(first: StackRow, second: StackRow) -> bool:
    if first.owner is not second.owner or first.role != second.role or first.depth != second.depth:
        return False
    # A part row's own part (body, branch 2...) and a layer's place among its siblings' rows.
    return first.role != PART or first.path[-1] == second.path[-1]


def key_for_target(layers, target) -> RowKey:
    """The row key of what :func:`~convstudio.gui.designer.changes.follow_path` names, clamped to ``layers``.

    A place past its stack's end is its last layer; an empty stack's place is the part's header row.
    """
    if target is None or target == INPUT_TARGET:
        return INPUT_KEY
    stack_path, index = parent_of(target)
    try:
        stack = stack_at(layers, stack_path)
    except (IndexError, KeyError, TypeError):
        return INPUT_KEY if not stack_path else key_for_target(layers, stack_path[:-1])
    if not stack:
        return INPUT_KEY if not stack_path else (PART, stack_path)
    return LAYER, (*stack_path, min(max(index, 0), len(stack) - 1))


def remap_collapsed(collapsed: frozenset, changes: Changes, before: Design, after: Design) -> frozenset:
    """The collapsed blocks after an edit: top-level positions follow their layers; gone blocks drop out."""
    if not collapsed:
        return collapsed
    positions: list[int | None] = list(range(len(before.layers)))
    for change in top_level(changes):
        if follow_shift(positions, change):
            continue
        if isinstance(change, Replaced):
            return frozenset()
    moved = {old: new for new, old in enumerate(positions) if old is not None}
    kept = set()
    for path in collapsed:
        new = moved.get(path[0])
        if new is None:
            continue
        path = (new, *path[1:])
        try:
            if layer_at(after.layers, path).kind in BLOCK_KINDS:
                kept.add(path)
        except (IndexError, KeyError, TypeError):
            continue
    return frozenset(kept)
