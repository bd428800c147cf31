"""The stack's rows with blocks, and which layer an edit inside a block is about (no widgets)."""

from __future__ import annotations

from convstudio.core import block_editing
from convstudio.core.design import Design, InputSpec
from convstudio.core.layers import BatchNorm, Concat, Conv2d, Residual
from convstudio.gui.designer.changes import (
    INPUT_TARGET, InputChanged, Inserted, LayerChanged, Moved, Removed, follow_path, invert, top_level,
)
from convstudio.gui.designer.stack_rows import INPUT_KEY, LAYER, MERGE, PART, StackLayout, splice


def design() -> Design:
    return Design(input=InputSpec(channels=3, height=8, width=8), layers=[
        Conv2d(out_channels=8, kernel_size=3, padding=1),
        Residual(body=[Conv2d(out_channels=8, kernel_size=3, padding=1), BatchNorm()]),
        Concat(branches=[[BatchNorm()], []]),
    ])


def test_blocks_lay_out_their_parts_and_a_merge_row_and_collapse():
    shown = design()
    layout = StackLayout(shown)
    assert [(row.role, row.path, row.depth) for row in layout.rows()] == [
        ("input", (), 0), (LAYER, (0,), 0),
        (LAYER, (1,), 0), (PART, (1, "body"), 1), (LAYER, (1, "body", 0), 2), (LAYER, (1, "body", 1), 2),
        (PART, (1, "shortcut"), 1), (MERGE, (1,), 1),
        (LAYER, (2,), 0), (PART, (2, "branches.0"), 1), (LAYER, (2, "branches.0", 0), 2),
        (PART, (2, "branches.1"), 1), (MERGE, (2,), 1),
    ]
    assert layout.top_span(1) == (2, 6) and layout.number_of((LAYER, (2,))) == 8
    collapsed = StackLayout(shown, frozenset({(1,)}))
    assert len(collapsed) == len(layout) - 5
    assert collapsed.visible_key((LAYER, (1, "body", 1))) == (LAYER, (1,))
    assert collapsed.visible_key((MERGE, (1,))) == (LAYER, (1,))
    assert splice(layout, collapsed) == (3, 5, 0)  # the block's parts go, nothing else
    plain = StackLayout(Design(input=InputSpec(channels=3, height=8, width=8), layers=[BatchNorm()]))
    assert plain.flat and len(plain) == 2 and plain.number_of((LAYER, (0,))) == 1
    assert plain.number_of(INPUT_KEY) == 0


def test_an_insert_inside_a_block_changes_only_that_blocks_rows():
    before = design()
    after = block_editing.insert_at(before, (1, "shortcut", 0), Conv2d(out_channels=8, kernel_size=1))
    first, removed, inserted = splice(StackLayout(before), StackLayout(after))
    assert first == 2 and inserted == removed + 1  # the block's rows, one more


def test_edits_inside_blocks_name_the_layer_to_select():
    assert follow_path((Inserted(0, 1, (1, "body")),)) == (1, "body", 0)
    assert follow_path((Removed(2, 1, (1, "body")),)) == (1, "body", 2)  # clamped by the document
    assert follow_path((Moved(0, 2, (1, "body")),)) == (1, "body", 2)
    # A move out of a block: removed there, inserted at the top level.
    assert follow_path((Removed(1, 1, (1, "body")), Inserted(2, 1, ()))) == (2,)
    # Wrapping: the block is about, and the wrapped layers went into it.
    assert follow_path((Inserted(1, 1, ()), Removed(2, 3, ()))) == (1,)
    assert follow_path((LayerChanged(0, ("stride",), (2, "branches.0")),)) == (2, "branches.0", 0)
    assert follow_path((InputChanged(("height",)),)) == INPUT_TARGET
    nested = (Removed(0, 1, (1, "body")), Inserted(0, 1, (2, "branches.1")))
    assert invert(nested) == (Removed(0, 1, (2, "branches.1")), Inserted(0, 1, (1, "body")))
    assert top_level(nested) == (LayerChanged(1, ("body",)), LayerChanged(2, ("branches.1",)))
