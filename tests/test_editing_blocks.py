"""Editing inside blocks: path-addressed edits keep every untouched layer object and refuse nonsense."""

from __future__ import annotations

import pytest

from convstudio.core import block_editing, editing
from convstudio.core.design import Design, InputSpec
from convstudio.core.layer_paths import layer_at, path_label, walk
from convstudio.core.layers import Activation, BatchNorm, Concat, Conv2d, Dropout, MaxPool2d, Residual
from convstudio.core.shape_records import LayerFix


def nested_design() -> Design:
    """conv, a residual (conv, bn), a concat whose second branch holds a residual, a dropout."""
    return Design(input=InputSpec(channels=3, height=8, width=8), layers=[
        Conv2d(out_channels=8, kernel_size=3, padding=1),
        Residual(body=[Conv2d(out_channels=8, kernel_size=3, padding=1), BatchNorm()]),
        Concat(branches=[[Conv2d(out_channels=4, kernel_size=1)],
                         [Residual(body=[Conv2d(out_channels=8, kernel_size=3, padding=1)])]]),
        Dropout(),
    ])


def kinds(layers):
    return [layer.kind for layer in layers]


def test_paths_address_layers_and_name_them():
    design = nested_design()
    assert layer_at(design.layers, (1, "body", 1)).kind == "batchnorm"
    assert layer_at(design.layers, (2, "branches.1", 0, "body", 0)).out_channels == 8
    assert path_label(design.layers, (1, "body", 1)) == "layer 2 (residual) > body > layer 2 (batchnorm)"
    assert path_label(design.layers, (2, "branches.1", 0)) == "layer 3 (concat) > branch 2 > layer 1 (residual)"
    assert [path for path, _layer in walk(design.layers)][:4] == [(0,), (1,), (1, "body", 0), (1, "body", 1)]


def test_insert_and_remove_inside_a_block_keep_the_other_layer_objects():
    design = nested_design()
    after = block_editing.insert_at(design, (1, "shortcut", 0), Conv2d(out_channels=8, kernel_size=1))
    assert kinds(after.layers[1].shortcut) == ["conv2d"]
    assert after.layers[0] is design.layers[0] and after.layers[2] is design.layers[2]
    assert after.layers[1] is not design.layers[1]
    assert after.layers[1].body[0] is design.layers[1].body[0]  # the block's own untouched layers too
    assert design.layers[1].shortcut == []  # the original design is a value: unchanged
    deep = block_editing.insert_at(design, (2, "branches.1", 0, "body", 1), BatchNorm())
    assert kinds(deep.layers[2].branches[1][0].body) == ["conv2d", "batchnorm"]
    assert deep.layers[2].branches[0][0] is design.layers[2].branches[0][0]
    removed = block_editing.remove_at(deep, (2, "branches.1", 0, "body", 0))
    assert kinds(removed.layers[2].branches[1][0].body) == ["batchnorm"]


def test_moves_into_out_of_and_between_blocks():
    design = nested_design()
    # The top-level conv into the residual's body, at its end: the block moves up one place.
    moved, target = block_editing.move_to(design, (0,), (1, "body", 2))
    assert target == (0, "body", 2)
    assert kinds(moved.layers) == ["residual", "concat", "dropout"]
    assert kinds(moved.layers[0].body) == ["conv2d", "batchnorm", "conv2d"]
    # Out of a block to the top level, after it.
    out, target = block_editing.move_to(design, (1, "body", 1), (2,))
    assert target == (2,) and kinds(out.layers) == ["conv2d", "residual", "batchnorm", "concat", "dropout"]
    # Within one stack, down: lands before what was at the place.
    down, target = block_editing.move_to(design, (0,), (2,))
    assert target == (1,) and kinds(down.layers) == ["residual", "conv2d", "concat", "dropout"]
    # A whole block into a branch of another block.
    nested, target = block_editing.move_to(design, (1,), (2, "branches.0", 0))
    assert target == (1, "branches.0", 0)
    assert kinds(nested.layers[1].branches[0]) == ["residual", "conv2d"]
    with pytest.raises(editing.EditError, match="into itself"):
        block_editing.move_to(design, (2,), (2, "branches.1", 0, "body", 0))


def test_field_changes_inside_blocks_and_readable_refusals():
    design = nested_design()
    after = block_editing.set_field_at(design, (1, "body", 0), "stride", 2)
    assert after.layers[1].body[0].stride == 2 and after.layers[1].body[1] is design.layers[1].body[1]
    with pytest.raises(editing.EditError) as error:
        block_editing.set_field_at(design, (1, "body", 0), "out_channels", 0)
    assert str(error.value).startswith("layer 2 (residual) > body > layer 1 (conv2d): out_channels")
    shortcut = [{"kind": "conv2d", "out_channels": 8, "kernel_size": 1, "stride": 2, "activation": "none"}]
    fixed = block_editing.set_fields_at(design, (2, "branches.1", 0), {"shortcut": shortcut})
    block = fixed.layers[2].branches[1][0]
    assert block.shortcut[0].stride == 2 and block.body[0] is design.layers[2].branches[1][0].body[0]
    fix = LayerFix("a 1x1 convolution on the shortcut", changes={"shortcut": shortcut})
    assert block_editing.apply_fix_at(design, (1,), fix).layers[1].shortcut[0].kind == "conv2d"


def test_wrap_and_unwrap_are_inverse():
    design = Design(input=InputSpec(channels=3, height=8, width=8),
                    layers=[Conv2d(out_channels=3, kernel_size=3, padding=1), BatchNorm(), Activation(), MaxPool2d(kernel_size=2)])
    wrapped = block_editing.wrap_in_residual(design, (0,), 3)
    assert kinds(wrapped.layers) == ["residual", "maxpool2d"]
    block = wrapped.layers[0]
    assert block.shortcut == [] and block.activation == "relu"
    assert all(new is old for new, old in zip(block.body, design.layers[:3]))
    unwrapped, count = block_editing.unwrap(wrapped, (0,))
    assert count == 3 and unwrapped.layers == design.layers
    with pytest.raises(editing.EditError, match="cannot wrap"):
        block_editing.wrap_in_residual(design, (2,), 3)
    with pytest.raises(editing.EditError, match="not a block"):
        block_editing.unwrap(design, (1,))


def test_concat_branches_can_be_added_and_removed_but_not_all():
    design = nested_design()
    more = block_editing.add_branch(design, (2,))
    assert len(more.layers[2].branches) == 3 and more.layers[2].branches[2] == []
    fewer = block_editing.remove_branch(more, (2,), 0)
    assert [kinds(branch) for branch in fewer.layers[2].branches] == [["residual"], []]
    single = block_editing.remove_branch(fewer, (2,), 1)
    with pytest.raises(editing.EditError, match="at least one branch"):
        block_editing.remove_branch(single, (2,), 0)
    with pytest.raises(editing.EditError, match="2 branches with layers"):
        block_editing.unwrap(design, (2,))
    unwrapped, count = block_editing.unwrap(single, (2,))
    assert count == 1 and kinds(unwrapped.layers) == ["conv2d", "residual", "residual", "dropout"]
    with pytest.raises(editing.EditError, match="not a concat"):
        block_editing.add_branch(design, (1,))


def test_bad_paths_are_refused_with_a_sentence():
    design = nested_design()
    with pytest.raises(editing.EditError, match="no layer 5"):
        block_editing.remove_at(design, (1, "body", 4))
    with pytest.raises(editing.EditError):
        block_editing.insert_at(design, (0, "body", 0), BatchNorm())  # a conv has no body
