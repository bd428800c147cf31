"""core.editing: each operation returns a new design and leaves the old one as it was."""

from __future__ import annotations

import pytest

from convstudio.core import editing
from convstudio.core.design import Design, InputSpec
from convstudio.core.layers import Conv2d, Linear
from convstudio.core.presets import load_preset
from convstudio.core.shapes import infer_shapes


@pytest.fixture
def cifar():
    return load_preset("cifar10")


def test_insert_remove_move_duplicate_leave_the_original_untouched(cifar):
    before = cifar.model_copy(deep=True)
    inserted = editing.insert_layer(cifar, 3, editing.new_layer("maxpool2d"))
    assert inserted.layers[3].kind == "maxpool2d" and len(inserted.layers) == len(cifar.layers) + 1
    removed = editing.remove_layer(cifar, 1)
    assert [layer.kind for layer in removed.layers[:2]] == ["conv2d", "conv2d"]
    moved = editing.move_layer(cifar, 0, 2)
    assert [layer.kind for layer in moved.layers[:3]] == ["batchnorm", "conv2d", "conv2d"]
    duplicated = editing.duplicate_layer(editing.set_layer_field(cifar, 0, "name", "stem"), 0)
    assert duplicated.layers[0].name == "stem" and duplicated.layers[1].name is None
    assert cifar == before


def test_new_layers_have_sensible_defaults():
    conv = editing.new_layer("conv2d")
    assert (conv.out_channels, conv.kernel_size, conv.padding, conv.stride) == (32, 3, 1, 1)
    assert editing.new_layer("maxpool2d").kernel_size == 2
    assert editing.new_layer("linear").out_features == 128
    with pytest.raises(editing.EditError, match="unknown layer kind"):
        editing.new_layer("conv4d")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kernel_size", 0, "layer 1 (conv2d): kernel_size must be at least 1, got 0"),
        ("kernel_size", [3, 3, 3], "layer 1 (conv2d): kernel_size lists 3 values but conv2d needs 2"),
        ("name", "1st", "layer 1 (conv2d): name must be a Python identifier"),
        ("nonsense", 1, "layer 1 (conv2d): nonsense is not a known field"),
    ],
)
def test_refused_field_values_give_readable_messages(cifar, field, value, message):
    with pytest.raises(editing.EditError) as caught:
        editing.set_layer_field(cifar, 0, field, value)
    assert str(caught.value).startswith(message)


def test_duplicate_names_and_bad_input_are_refused(cifar):
    named = editing.set_layer_field(cifar, 2, "name", "block")
    with pytest.raises(editing.EditError, match="reuses the name 'block'"):
        editing.set_layer_field(named, 0, "name", "block")
    with pytest.raises(editing.EditError, match="input.height must be at least 1"):
        editing.set_input_field(cifar, "height", 0)
    assert editing.set_input_field(cifar, "depth", 8).input.shape == (3, 8, 32, 32)


def test_apply_fix_sets_fields_or_inserts_a_layer():
    design = Design(input=InputSpec(channels=1, height=8, width=8),
                    layers=[Conv2d(out_channels=4, kernel_size=3), Linear(out_features=10)])
    problem = infer_shapes(design).problems[0]
    flatten_fix = next(fix for fix in problem.problem.fixes if fix.insert_before)
    fixed = editing.apply_fix(design, problem.index, flatten_fix)
    assert [layer.kind for layer in fixed.layers] == ["conv2d", "flatten", "linear"]
    assert infer_shapes(fixed).valid
    assert editing.fixed_layer_index(problem.index, flatten_fix) == 2

    too_small = editing.set_layer_field(design, 0, "kernel_size", 11)
    problem = infer_shapes(too_small).problems[0]
    fixed = editing.apply_fix(too_small, 0, problem.problem.fixes[0])
    assert fixed.layers[0].kernel_size == 8


def test_kind_change_drops_settings_the_new_kind_lacks():
    design = Design(input=InputSpec(channels=1, height=8, width=8), layers=[Conv2d(out_channels=4, kernel_size=3)])
    changed = editing.set_layer_fields(design, 0, {"kind": "maxpool2d"})
    assert changed.layers[0].kind == "maxpool2d" and changed.layers[0].kernel_size == 3

