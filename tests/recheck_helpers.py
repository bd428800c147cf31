"""What the incremental-recheck tests share: top-level edits as the app makes them, and the recheck check."""

from __future__ import annotations

from hypothesis import strategies as st

from convstudio.core import editing
from convstudio.core.design import Design
from convstudio.core.shapes import infer_shapes, recheck

TOP_LEVEL_EDITS = ("insert", "remove", "move", "duplicate")


def top_level_edit(draw, design: Design, edit: str, index: int, new_layers: st.SearchStrategy) -> Design | None:
    """``design`` after ``edit`` (one of TOP_LEVEL_EDITS) of layer ``index``; None for any other edit.

    An insert puts a layer drawn from ``new_layers`` at a random place; the
    others leave a design without layers as it is. Raises EditError as the app's edits do.
    """
    count = len(design.layers)
    if edit == "insert":
        return editing.insert_layer(design, draw(st.integers(0, count)), draw(new_layers))
    if edit not in TOP_LEVEL_EDITS:
        return None
    if not count:
        return design
    if edit == "remove":
        return editing.remove_layer(design, index)
    if edit == "move":
        return editing.move_layer(design, index, draw(st.integers(0, count - 1)))
    return editing.duplicate_layer(design, index)


def assert_recheck_follows_edits(data, design: Design, edited, most_edits: int) -> None:
    """Edit ``design`` 1 to ``most_edits`` times in a row (``edited(design)``: a strategy of edited designs).

    After each edit, ``recheck`` from the previous report must equal ``infer_shapes``
    of the edited design, field for field.
    """
    report = infer_shapes(design)
    for _ in range(data.draw(st.integers(1, most_edits))):
        after = data.draw(edited(design))
        rechecked = recheck(after, design, report)
        assert rechecked == infer_shapes(after)
        design, report = after, rechecked
