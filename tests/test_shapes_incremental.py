"""The incremental recheck gives exactly the report of a full check, over random designs and edits.

:func:`convstudio.core.shapes.recheck` reuses the results of layers an edit did
not touch (the same layer object receiving the same shape); the designer calls
it after every edit. Each generated design (from the PyTorch agreement test's
generator) goes through a chain of random edits as the app makes them
(``core.editing``): inserts, removals, moves, duplicates, a layer replaced by
another with other settings, the same layer object twice, a layer given a
name that generated names also take, the input changed, an engine fix applied. After each, the recheck from the previous report must
equal ``infer_shapes`` of the new design, field for field.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convstudio.core import editing
from convstudio.core.design import Design
from convstudio.core.receptive_field import follow_fields, receptive_fields
from convstudio.core.shapes import infer_shapes, recheck
from recheck_helpers import assert_recheck_follows_edits, top_level_edit
from test_shapes_agree_with_pytorch import designs

_EDITS = ("insert", "remove", "move", "duplicate", "replace", "again", "named", "input", "fix")
# Names a layer may be given that the generated ones also take: others are then renumbered.
_NAMES = ("conv1", "conv2", "bn1", "dropout1", "act1", "fc1", "maxpool1", "flatten1", "mine", None)


@st.composite
def edited(draw, design: Design) -> Design:
    """``design`` after one random edit (the design itself when the edit does not apply)."""
    count = len(design.layers)
    edit = draw(st.sampled_from(_EDITS))
    index = draw(st.integers(0, max(count - 1, 0)))
    try:
        moved = top_level_edit(draw, design, edit, index, designs().map(lambda made: made.layers[0]))
        if moved is not None:
            return moved
        if not count:
            return design
        if edit == "replace":  # another kind or other settings at the same place, as the inspector makes it
            layers = list(design.layers)
            layers[index] = draw(designs()).layers[0]
            return design.model_copy(update={"layers": layers})
        if edit == "again":  # the very same layer object a second time
            return editing.insert_layer(design, draw(st.integers(0, count)), design.layers[index])
        if edit == "named":  # its own name, maybe one another layer had been given: earlier layers renamed
            return editing.set_layer_field(design, index, "name", draw(st.sampled_from(_NAMES)))
        if edit == "input":
            field = draw(st.sampled_from(["channels", "height", "width"]))
            return editing.set_input_field(design, field, draw(st.integers(1, 14)))
        problems = infer_shapes(design).problems  # "fix"
        if problems and problems[0].problem.fixes:
            fix = draw(st.sampled_from(problems[0].problem.fixes))
            return editing.apply_fix(design, problems[0].index, fix)
        return design
    except editing.EditError:
        return design


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_recheck_after_random_edits_equals_the_full_check(data) -> None:
    assert_recheck_follows_edits(data, data.draw(designs()), edited, most_edits=6)


def test_recheck_reuses_the_results_of_untouched_layers() -> None:
    """Not a timing: the layers an edit does not reach keep their very result objects."""
    design = Design.model_validate({"input": {"channels": 3, "height": 16, "width": 16}, "layers": [
        {"kind": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
        {"kind": "batchnorm"},
        {"kind": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
        {"kind": "dropout", "p": 0.1},
        {"kind": "flatten"},
        {"kind": "linear", "out_features": 10},
    ]})
    report = infer_shapes(design)
    after = editing.set_layer_field(design, 0, "out_channels", 16)  # changes conv1, bn1 and conv2's input
    rechecked = recheck(after, design, report)
    assert rechecked == infer_shapes(after)
    kept = [new is old for new, old in zip(rechecked.layers, report.layers)]
    assert kept == [False, False, False, True, True, True]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fields_followed_through_random_edits_equal_a_fresh_walk(data) -> None:
    """The designer's receptive fields (``follow_fields`` from the previous design's) after each edit."""
    design = data.draw(designs())
    walk = follow_fields(design)
    for _ in range(data.draw(st.integers(1, 6))):
        design = data.draw(edited(design))
        walk = follow_fields(design, walk)
        assert walk.fields == receptive_fields(design)
        assert [None if field is None else field.path for field in walk.fields] == [
            None if field is None else str(index) for index, field in enumerate(walk.fields)]


def test_following_fields_reuses_those_an_edit_leaves_alone() -> None:
    """Not a timing: a channel count changes no field, so the fields after the edited layer are kept.

    (The batch norm right after it shares the edited layer's axes, so it is walked again.)
    """
    design = Design.model_validate({"input": {"channels": 3, "height": 16, "width": 16}, "layers": [
        {"kind": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
        {"kind": "batchnorm"},
        {"kind": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2},
        {"kind": "flatten"},
        {"kind": "linear", "out_features": 10},
    ]})
    walk = follow_fields(design)
    after = follow_fields(editing.set_layer_field(design, 0, "out_channels", 16), walk)
    assert after.fields[1] == walk.fields[1]
    assert all(new is old for new, old in zip(after.fields[2:], walk.fields[2:]))
    wider = follow_fields(editing.set_layer_field(design, 0, "kernel_size", 5), walk)
    assert wider.fields[2].sizes == (7, 7) and wider.fields[2] is not walk.fields[2]
