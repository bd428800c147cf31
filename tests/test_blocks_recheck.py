"""The incremental recheck stays exact on designs with blocks, and reuses untouched blocks.

Random nested designs (the PyTorch agreement test's generator) go through
chains of edits as the app makes them: top-level inserts, removals, moves and
duplicates of blocks, a field changed inside a block (which makes a new block
object), and the engine's own fixes applied where their paths say. After each,
``recheck`` from the previous report must equal ``infer_shapes`` field for field.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convstudio.core import block_editing, editing
from convstudio.core.design import Design
from convstudio.core.shapes import infer_shapes, recheck
from recheck_helpers import assert_recheck_follows_edits, top_level_edit
from test_shapes_agree_with_pytorch import nested_designs

_INNER_CHANGES = {"conv2d": ("stride", [1, 2]), "conv3d": ("stride", [1, 2]), "activation": ("activation", ["tanh"]),
                  "residual": ("activation", ["none", "relu"]), "dropout": ("p", [0.1])}


@st.composite
def edited(draw, design: Design) -> Design:
    """``design`` after one random edit (the design itself when the edit does not apply)."""
    count = len(design.layers)
    edit = draw(st.sampled_from(["insert", "remove", "move", "duplicate", "inner", "inner", "fix", "input"]))
    index = draw(st.integers(0, max(count - 1, 0)))
    try:
        moved = top_level_edit(draw, design, edit, index, nested_designs().map(lambda made: made.layers[0]))
        if moved is not None:
            return moved
        if not count:
            return design
        if edit == "input":
            return editing.set_input_field(design, "height", draw(st.integers(1, 12)))
        report = infer_shapes(design)
        if edit == "inner":
            entries = [entry for entry in report.walk() if entry.depth and entry.record.kind in _INNER_CHANGES]
            if not entries:
                return design
            entry = draw(st.sampled_from(entries))
            field, values = _INNER_CHANGES[entry.record.kind]
            return block_editing.set_field_at(design, entry.path, field, draw(st.sampled_from(values)))
        if report.problems and report.problems[0].problem.fixes:  # "fix"
            first = report.problems[0]
            fix = draw(st.sampled_from(first.problem.fixes))
            return block_editing.apply_fix_at(design, (first.index,) + fix.path, fix)
        return design
    except editing.EditError:
        return design


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_recheck_after_random_edits_of_nested_designs_equals_the_full_check(data) -> None:
    assert_recheck_follows_edits(data, data.draw(nested_designs()), edited, most_edits=5)


def test_untouched_blocks_keep_their_results_and_an_edited_block_is_checked_again() -> None:
    block = {"kind": "residual", "body": [{"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
                                          {"kind": "batchnorm"}]}
    design = Design.model_validate({"input": {"channels": 4, "height": 8, "width": 8},
                                    "layers": [block, block, block, {"kind": "globalavgpool"}]})
    report = infer_shapes(design)
    after = block_editing.set_field_at(design, (1, "body", 1), "eps", 1e-3)  # the second block only
    rechecked = recheck(after, design, report)
    assert rechecked == infer_shapes(after)
    assert [new is old for new, old in zip(rechecked.layers, report.layers)] == [True, False, True, True]
    moved = editing.move_layer(design, 0, 2)  # same objects, new places: results kept, re-indexed
    rechecked = recheck(moved, design, report)
    assert rechecked == infer_shapes(moved)
    assert rechecked.layers[2].stacks is report.layers[0].stacks
