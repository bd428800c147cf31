"""The shape engine on blocks: merges, their explanations and one-click fixes, locations, totals;
the design file's nested form, its migration and its messages; ``convstudio check`` on blocks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from convstudio.core.design import Design, DesignFileError, design_from_dict, design_from_json
from convstudio.core.migrations import CURRENT_SCHEMA_VERSION
from convstudio.core.shape_records import path_text
from convstudio.core.shapes import infer_shapes
from shape_helpers import conv, image, volume


def design(input_spec: dict, *layers: dict) -> Design:
    return Design.model_validate({"input": input_spec, "layers": list(layers)})


def basic_body(channels: int, stride: int = 1) -> list[dict]:
    return [conv(channels, 3, stride=stride, padding=1, bias=False, activation="none"), {"kind": "batchnorm"},
            {"kind": "activation"}, conv(channels, 3, padding=1, bias=False, activation="none"),
            {"kind": "batchnorm"}]


def with_fix(source: Design, index: int, fix) -> Design:
    """The design with ``fix`` (found on top-level layer ``index``) applied where its path says."""
    data = json.loads(source.to_json())
    path = (index,) + fix.path
    stack = data["layers"]
    for position in range(0, len(path) - 1, 2):
        layer, part = stack[path[position]], path[position + 1]
        stack = layer["branches"][int(part.split(".")[1])] if part.startswith("branches.") else layer[part]
    if fix.changes:
        stack[path[-1]].update(fix.changes)
    if fix.insert_before:
        stack.insert(path[-1], fix.insert_before)
    return design_from_dict(data)


def only_fix(report, index: int = 0):
    problem = report.layers[index].problem
    assert problem is not None and len(problem.fixes) >= 1, report.first_error()
    return problem.fixes[0]


# --- residual --------------------------------------------------------------------------------


def test_identity_residual_shows_both_sides_and_totals():
    report = infer_shapes(design(image(16, 8), {"kind": "residual", "body": basic_body(16)}))
    block = report.layers[0]
    assert report.valid and block.output_shape == (16, 8, 8)
    assert block.merge_text == "body 16x8x8 + shortcut (identity) 16x8x8"
    inner = block.stack("body").layers
    assert [layer.name for layer in inner] == ["conv1", "bn1", "act1", "conv2", "bn2"]
    assert block.params == sum(layer.params for layer in inner) == 2 * (16 * 16 * 9) + 2 * 32
    assert block.macs == sum(layer.macs for layer in inner) == 2 * 64 * 16 * 16 * 9
    assert report.total_params == block.params
    assert report.activation_values == 16 * 64 * 7  # the input, five inner outputs and the block's


def test_a_strided_body_against_the_identity_is_explained_and_fixed_by_a_projection():
    source = design(image(64, 32), {"kind": "residual", "body": basic_body(128, stride=2)})
    report = infer_shapes(source)
    assert report.first_error().startswith(
        "layer 1 (residual): body gives 128x16x16, the identity shortcut gives 64x32x32")
    fix = only_fix(report)
    assert fix.path == ()
    assert fix.description.startswith("shortcut: a 1x1 convolution with stride 2 and 128 out channels")
    assert fix.changes == {"shortcut": [
        {"kind": "conv2d", "out_channels": 128, "kernel_size": 1, "stride": 2, "bias": False, "activation": "none"},
        {"kind": "batchnorm"}]}
    fixed = infer_shapes(with_fix(source, 0, fix))
    assert fixed.valid and fixed.layers[0].merge_text == "body 128x16x16 + shortcut 128x16x16"


@pytest.mark.parametrize(("input_spec", "body", "shortcut", "expected"), [
    # channels only: a 1x1 convolution without stride
    (image(8, 6), [conv(12, 3, padding=1)], [], "a 1x1 convolution with 12 out channels"),
    # a shortcut of the wrong kind is replaced
    (image(8, 6), [conv(8, 3, stride=3, padding=1)], [conv(8, 1)], "a 1x1 convolution with stride 3 and 8 out"),
    # a body that grows: padding on the shortcut
    (image(4, 6), [conv(4, 1, padding=1)], [], "padding 1 and 4 out channels"),
    # a flat body: a linear projection of the flattened input
    (image(2, 3), [{"kind": "flatten"}, {"kind": "linear", "out_features": 5}], [], "a linear layer with 5 outputs"),
    # 3-D: a 1x1x1 convolution of volumes
    (volume(2, 4, 6, 6), [{"kind": "conv3d", "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1}], [],
     "a 1x1x1 convolution with stride 2 and 3 out channels"),
])
def test_every_residual_mismatch_gets_a_shortcut_that_works(input_spec, body, shortcut, expected):
    source = design(input_spec, {"kind": "residual", "body": body, "shortcut": shortcut})
    report = infer_shapes(source)
    assert not report.valid and report.layers[0].problem.field == "shortcut"
    fix = only_fix(report)
    assert expected in fix.description
    assert infer_shapes(with_fix(source, 0, fix)).valid


def test_a_shortcut_of_another_rank_is_replaced_by_a_projection():
    source = design(image(2, 4), {"kind": "residual", "body": [conv(2, 1)], "shortcut": [{"kind": "flatten"}]})
    problem = infer_shapes(source).layers[0].problem
    assert "body gives 2x4x4, the shortcut gives 32" in problem.message
    assert infer_shapes(with_fix(source, 0, problem.fixes[0])).valid


def test_a_flat_block_gets_a_linear_shortcut():
    source = design(image(2, 3), {"kind": "flatten"}, {"kind": "residual", "body": [
        {"kind": "linear", "out_features": 4}]})
    problem = infer_shapes(source).layers[1].problem
    assert problem.message.startswith("body gives 4, the identity shortcut gives 18")
    assert problem.fixes[0].changes == {"shortcut": [
        {"kind": "linear", "out_features": 4, "bias": False, "activation": "none"}]}
    assert infer_shapes(with_fix(source, 1, problem.fixes[0])).valid


# --- concat ----------------------------------------------------------------------------------


def test_concat_joins_channels_and_shows_every_branch():
    report = infer_shapes(design(image(4, 8), {"kind": "concat", "branches": [
        [conv(3, 1)], [conv(5, 3, padding=1)], []]}))
    block = report.layers[0]
    assert report.valid and block.output_shape == (12, 8, 8)
    assert block.merge_text == "branch 1 3x8x8 + branch 2 5x8x8 + branch 3 4x8x8 (joined along channels)"
    assert [stack.label for stack in block.stacks] == ["branch 1", "branch 2", "branch 3"]


def test_a_branch_of_another_size_is_named_and_fixed_by_its_padding():
    source = design(image(4, 8), {"kind": "concat", "branches": [
        [conv(3, 1)], [conv(5, 3)], [{"kind": "maxpool2d", "kernel_size": 3, "stride": 1, "padding": 1}]]})
    report = infer_shapes(source)
    assert report.first_error().startswith(
        "layer 1 (concat): branch 2 gives 5x6x6 but branch 1 gives 3x8x8: branches are joined along channels, "
        "so their height and width must agree")
    fix = only_fix(report)
    assert fix.path == ("branches.1", 0) and fix.changes == {"padding": 1}
    assert fix.description == "branch 2, layer 1 (conv2d): padding 1 gives 8x8"
    assert infer_shapes(with_fix(source, 0, fix)).valid


def test_a_strided_branch_is_fixed_by_its_stride():
    source = design(image(4, 8), {"kind": "concat", "branches": [
        [conv(3, 3, stride=2, padding=1)], [conv(5, 3, stride=2, padding=1)], [conv(2, 1)]]})
    report = infer_shapes(source)
    assert "branch 3 gives 2x8x8 but branch 1 gives 3x4x4" in report.first_error()
    assert infer_shapes(with_fix(source, 0, only_fix(report))).valid
    assert "stride 2" in only_fix(report).description


def test_an_empty_branch_at_fault_is_fixed_in_the_other_branch():
    source = design(image(4, 8), {"kind": "concat", "branches": [[conv(3, 3, stride=2, padding=1)], []]})
    report = infer_shapes(source)
    assert "branch 2 gives 4x8x8 but branch 1 gives 3x4x4" in report.first_error()
    fix = only_fix(report)
    assert fix.path == ("branches.0", 0) and fix.changes == {"stride": 1}
    assert infer_shapes(with_fix(source, 0, fix)).valid


def test_branches_of_another_rank_are_refused():
    report = infer_shapes(design(image(2, 4), {"kind": "concat", "branches": [[conv(2, 1)], [{"kind": "flatten"}]]}))
    assert "branch 2 gives 32 but branch 1 gives 2x4x4" in report.first_error()


# --- nesting, locations, global pooling ------------------------------------------------------


def test_a_problem_deep_inside_names_where_it_sits_and_its_fix_reaches_it():
    source = design(image(4, 6), conv(4, 1), {"kind": "concat", "branches": [
        [], [{"kind": "residual", "body": [conv(4, 9)]}]]})
    report = infer_shapes(source)
    block = report.problems[0]
    assert block.index == 1 and block.problem.path == ("branches.1", 0, "body", 0)
    assert block.where == "layer 2 (concat) > branch 2 > layer 1 (residual) > body > layer 1 (conv2d)"
    assert report.first_error().startswith(
        "layer 2 (concat) > branch 2 > layer 1 (residual) > body > layer 1 (conv2d): kernel 9 is larger")
    inner = report.find((1, "branches.1", 0, "body", 0))
    assert inner.problem is not None and inner.problem.path == ()
    assert report.location((1, "branches.1", 0, "body", 0)) == block.where
    fixes = block.problem.fixes
    assert fixes and all(fix.path == ("branches.1", 0, "body", 0) for fix in fixes)
    for fix in fixes:
        assert infer_shapes(with_fix(source, 1, fix)).find((1, "branches.1", 0, "body", 0)).problem is None
    paths = [(entry.path_text, entry.module_name, entry.depth) for entry in report.walk()]
    assert paths == [("1", "conv1", 0), ("2", "concat1", 0), ("2.branches.2.1", "concat1.branches.1.res1", 1),
                     ("2.branches.2.1.body.1", "concat1.branches.1.res1.body.conv1", 2)]


def test_path_text_counts_from_one():
    assert path_text((4, "body", 1)) == "5.body.2"
    assert path_text((2, "branches.1", 0, "shortcut", 0)) == "3.branches.2.1.shortcut.1"


@pytest.mark.parametrize(("input_spec", "expected"), [(image(5, 7, 3), (5, 1, 1)), (volume(2, 3, 4, 5), (2, 1, 1, 1))])
@pytest.mark.parametrize("kind", ["globalavgpool", "globalmaxpool"])
def test_global_pooling_keeps_one_value_per_channel(kind, input_spec, expected):
    report = infer_shapes(design(input_spec, {"kind": kind}))
    assert report.valid and report.output_shape == expected and report.total_params == 0


def test_global_pooling_of_a_flat_vector_is_refused():
    report = infer_shapes(design(image(2, 3), {"kind": "flatten"}, {"kind": "globalavgpool"}))
    assert "layer 2 (globalavgpool): needs feature maps but receives a flat vector" in report.first_error()


# --- the design file -------------------------------------------------------------------------


ISSUE_BLOCK = """{"schema_version": 2, "input": {"channels": 64, "height": 32, "width": 32}, "layers": [
 {"kind": "residual", "name": "res1",
  "body": [{"kind": "conv2d", "out_channels": 128, "kernel_size": 3, "stride": 2, "padding": 1, "bias": false, "activation": "none"},
           {"kind": "batchnorm"}, {"kind": "activation", "activation": "relu"},
           {"kind": "conv2d", "out_channels": 128, "kernel_size": 3, "padding": 1, "bias": false, "activation": "none"},
           {"kind": "batchnorm"}],
  "shortcut": [{"kind": "conv2d", "out_channels": 128, "kernel_size": 1, "stride": 2, "bias": false, "activation": "none"},
               {"kind": "batchnorm"}],
  "activation": "relu"}]}"""


def test_the_issue_block_loads_and_round_trips():
    loaded = design_from_json(ISSUE_BLOCK)
    report = infer_shapes(loaded)
    assert report.valid and report.output_shape == (128, 16, 16)
    assert report.layers[0].merge_text == "body 128x16x16 + shortcut 128x16x16"
    again = design_from_json(loaded.to_json())
    assert again == loaded
    data = json.loads(loaded.to_json())
    assert data["schema_version"] == CURRENT_SCHEMA_VERSION == 2
    assert set(data["layers"][0]) == {"kind", "name", "body", "shortcut"}  # activation relu is the default


def test_a_version_1_file_migrates_and_saves_as_version_2():
    old = design_from_json('{"schema_version": 1, "input": {"channels": 1, "height": 4, "width": 4}, '
                           '"layers": [{"kind": "flatten"}]}')
    assert old.schema_version == 2 and json.loads(old.to_json())["schema_version"] == 2


def test_names_are_unique_per_stack_only():
    body = [conv(2, 1, name="a")]
    assert design(image(2, 3), {"kind": "residual", "body": body, "shortcut": body}).layers[0].body[0].name == "a"
    with pytest.raises(ValueError, match=r"layer 1 \(residual\) > body > layer 2 \(conv2d\) reuses the name 'a'"):
        design(image(2, 3), {"kind": "residual", "body": body + body})


@pytest.mark.parametrize(("layer", "message"), [
    ({"kind": "residual", "body": [{"kind": "conv2d", "out_channels": 2, "kernel_size": 0}]},
     "layer 1 (residual) > body > layer 1 (conv2d): kernel_size must be at least 1, got 0"),
    ({"kind": "concat", "branches": [[], [{"kind": "maxpool2d", "kernel_size": 2, "strid": 2}]]},
     "layer 1 (concat) > branch 2 > layer 1 (maxpool2d): strid is not a known field; did you mean 'stride'?"),
    ({"kind": "concat", "branches": [[{"kind": "residual", "shortcut": [{"kind": "convv"}]}]]},
     "layer 1 (concat) > branch 1 > layer 1 (residual) > shortcut > layer 1 (convv): unknown kind 'convv'"),
    ({"kind": "concat", "branches": []}, "layer 1 (concat): branches must hold at least 1 entry, got []"),
])
def test_file_errors_inside_blocks_name_where_they_sit(layer, message):
    with pytest.raises(DesignFileError) as caught:
        design_from_dict({"input": image(2, 4), "layers": [layer]}, "net.json")
    assert f"net.json: {message}" in str(caught.value)


# --- convstudio check --------------------------------------------------------------------------


def test_check_indents_blocks_and_lists_children_with_paths(tmp_path):
    path = tmp_path / "res.json"
    path.write_text(ISSUE_BLOCK, encoding="utf-8")
    command = [sys.executable, "-m", "convstudio", "check"]
    text = subprocess.run([*command, str(path)], capture_output=True, text=True)
    assert text.returncode == 0, text.stderr
    assert "body 128x16x16 + shortcut 128x16x16" in text.stdout
    assert "  1.body.1    conv1" in text.stdout and "1.shortcut.2    bn1" in text.stdout
    result = subprocess.run([*command, "--json", str(path)], capture_output=True, text=True)
    data = json.loads(result.stdout)
    block = data["layers"][0]
    assert block["index"] == 1 and block["output_shape"] == [128, 16, 16]
    assert block["params"] == data["total_params"] == 73728 + 147456 + 8192 + 3 * 256
    assert [child["path"] for child in block["children"]] == [
        "1.body.1", "1.body.2", "1.body.3", "1.body.4", "1.body.5", "1.shortcut.1", "1.shortcut.2"]
    assert block["children"][0]["params"] == 73728 and block["children"][0]["output_shape"] == [128, 16, 16]


def test_check_json_says_where_inside_a_block_a_problem_sits():
    from convstudio.core.report_text import report_json

    source = design(image(2, 4), {"kind": "residual", "body": [{"kind": "batchnorm"}, conv(2, 9)]})
    data = report_json(infer_shapes(source), "net.json")
    assert data["valid"] is False
    assert data["error"].startswith("layer 1 (residual) > body > layer 2 (conv2d): kernel 9 is larger")
    block = data["layers"][0]
    assert block["error"].startswith("body > layer 2 (conv2d): kernel 9 is larger")
    assert block["children"][1]["error"].startswith("kernel 9 is larger") and block["children"][0]["error"] is None
