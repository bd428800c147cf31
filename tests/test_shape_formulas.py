"""The shape engine on hand-computed cases: the lecture's size formulas, the texts
it shows, parameter and multiply-accumulate counts, and every impossible case
with its message and fixes.

Equation numbers are those of the lecture (IE 398 lecture 6): (7) no padding,
stride 1; (10) padding; (12) stride; (14) both; (17) pooling; (3)-(4) 3-D
convolution.
"""

from __future__ import annotations

import pytest

from core.design import Design
from core.report_text import layer_formula
from core.shape_records import DesignReport, LayerFix, LayerShape
from core.shapes import infer_shapes


def check(input_spec: dict, *layers: dict) -> DesignReport:
    return infer_shapes(Design.model_validate({"input": input_spec, "layers": list(layers)}))


def image(channels: int, height: int, width: int | None = None) -> dict:
    return {"channels": channels, "height": height, "width": height if width is None else width}


def volume(channels: int, depth: int, height: int, width: int) -> dict:
    return {"channels": channels, "depth": depth, "height": height, "width": width}


def conv(out_channels: int, kernel, **settings) -> dict:
    return {"kind": "conv2d", "out_channels": out_channels, "kernel_size": kernel, **settings}


def only_layer(report: DesignReport) -> LayerShape:
    assert len(report.layers) == 1
    return report.layers[0]


def apply_fix(design: Design, index: int, fix: LayerFix) -> tuple[Design, int]:
    """The design with ``fix`` applied to layer ``index``, and where that layer is now."""
    data = design.model_dump(exclude_none=True)
    layers = [{"kind": layer.kind, **layer.model_dump(exclude_none=True)} for layer in design.layers]
    if fix.changes:
        layers[index] = {**layers[index], **fix.changes}
    if fix.insert_before:
        layers.insert(index, dict(fix.insert_before))
        index += 1
    data["layers"] = layers
    return Design.model_validate(data), index


def assert_every_fix_works(design: Design, index: int) -> None:
    """Each fix offered for layer ``index`` leaves that layer (and, here, the design) valid."""
    problem = infer_shapes(design).layers[index].problem
    assert problem is not None and problem.fixes
    for fix in problem.fixes:
        fixed, at = apply_fix(design, index, fix)
        report = infer_shapes(fixed)
        assert report.layers[at].problem is None, f"fix {fix.description!r}: {report.layers[at].error}"


# --- the size formulas ---------------------------------------------------------------


class TestConvolutionSizes:
    def test_eq7_no_padding_stride_1(self):
        layer = only_layer(check(image(3, 32), conv(6, 5)))
        assert layer.output_shape == (6, 28, 28)
        height, width = layer.formulas
        assert (height.axis, width.axis) == ("height", "width")
        assert height.text == "floor((32 - 5 + 2*0) / 1) + 1 = 28"
        assert height.special_case == "with s = 1 and P = 0 this is eq. (7): 32 - 5 + 1 = 28"
        assert height.equation == "14"
        assert height.note is None  # stride 1 always divides exactly

    def test_eq10_padding(self):
        layer = only_layer(check(image(3, 32), conv(64, 4, padding=2)))
        assert layer.output_shape == (64, 33, 33)
        formula = layer.formulas[0]
        assert formula.text == "floor((32 - 4 + 2*2) / 1) + 1 = 33"
        assert formula.special_case == "with s = 1 this is eq. (10): 32 - 4 + 2*2 + 1 = 33"
        assert layer_formula(layer) == "eq. (14) H, W: floor((32 - 4 + 2*2) / 1) + 1 = 33"

    def test_eq12_stride_exact(self):
        layer = only_layer(check(image(3, 32), conv(8, 4, stride=2)))
        assert layer.output_shape == (8, 15, 15)  # floor(28 / 2) + 1
        formula = layer.formulas[0]
        assert formula.special_case == "with P = 0 this is eq. (12): floor((32 - 4) / 2) + 1 = 15"
        assert formula.note is None

    def test_eq12_stride_inexact_drops_the_last_row_and_column(self):
        layer = only_layer(check(image(3, 32), conv(8, 5, stride=2)))
        assert layer.output_shape == (8, 14, 14)  # floor(27 / 2) + 1
        height, width = layer.formulas
        assert height.note == (
            "height: 27 is not a multiple of s = 2, so the last row of the input is never covered and dropped"
        )
        assert width.note == (
            "width: 27 is not a multiple of s = 2, so the last column of the input is never covered and dropped"
        )

    def test_eq14_padding_and_stride(self):
        layer = only_layer(check(image(3, 32), conv(8, 5, stride=3, padding=1)))
        assert layer.output_shape == (8, 10, 10)  # floor(29 / 3) + 1
        formula = layer.formulas[0]
        assert formula.text == "floor((32 - 5 + 2*1) / 3) + 1 = 10"
        assert formula.special_case is None  # neither s = 1 nor P = 0: only eq. (14) applies
        assert formula.note == (
            "height: 29 is not a multiple of s = 3, so the last 2 rows of the padded input are never "
            "covered and dropped"
        )

    def test_rectangular_kernel_stride_and_padding(self):
        layer = only_layer(check(image(3, 20, 30), conv(8, [3, 5], stride=[1, 2], padding=[1, 0])))
        assert layer.output_shape == (8, 20, 13)
        height, width = layer.formulas
        assert height.text == "floor((20 - 3 + 2*1) / 1) + 1 = 20"
        assert width.text == "floor((30 - 5 + 2*0) / 2) + 1 = 13"
        assert height.note is None
        assert width.note == (
            "width: 25 is not a multiple of s = 2, so the last column of the input is never covered and dropped"
        )
        assert layer_formula(layer) == (
            "eq. (14) H: floor((20 - 3 + 2*1) / 1) + 1 = 20; W: floor((30 - 5 + 2*0) / 2) + 1 = 13"
        )
        assert layer.params == 8 * 3 * 3 * 5 + 8
        assert layer.macs == 20 * 13 * 8 * 3 * 3 * 5

    def test_kernel_exactly_the_padded_input_gives_one(self):
        layer = only_layer(check(image(1, 3), conv(2, 5, padding=1)))
        assert layer.output_shape == (2, 1, 1)
        assert layer.problem is None


class TestThreeDimensional:
    def test_eq3_valid_3d_convolution(self):
        layer = only_layer(check(volume(1, 8, 8, 8), {"kind": "conv3d", "out_channels": 4, "kernel_size": 3}))
        assert layer.output_shape == (4, 6, 6, 6)  # d - k + 1 on each axis, eq. (3)
        assert [f.axis for f in layer.formulas] == ["depth", "height", "width"]
        assert layer.formulas[0].special_case == "with s = 1 and P = 0 this is eq. (7): 8 - 3 + 1 = 6"
        assert layer_formula(layer) == "eq. (3)-(4), eq. (14) per axis D, H, W: floor((8 - 3 + 2*0) / 1) + 1 = 6"
        assert layer.params == 4 * 1 * 27 + 4
        assert layer.macs == 6 * 6 * 6 * 4 * 1 * 27

    def test_per_axis_depth_height_width_order(self):
        report = check(
            volume(2, 16, 32, 32),
            {"kind": "conv3d", "out_channels": 4, "kernel_size": [3, 5, 5], "padding": [0, 2, 2]},
            {"kind": "maxpool3d", "kernel_size": [1, 2, 2]},
            {"kind": "avgpool3d", "kernel_size": 2, "stride": [2, 1, 1]},
        )
        conv3d, maxpool, avgpool = report.layers
        assert conv3d.output_shape == (4, 14, 32, 32)
        assert conv3d.params == 4 * 2 * 3 * 5 * 5 + 4
        assert conv3d.macs == 14 * 32 * 32 * 4 * 2 * 75
        assert maxpool.output_shape == (4, 14, 16, 16)
        assert avgpool.output_shape == (4, 7, 15, 15)
        assert [f.text for f in avgpool.formulas] == [
            "floor((14 - 2) / 2) + 1 = 7", "floor((16 - 2) / 1) + 1 = 15", "floor((16 - 2) / 1) + 1 = 15",
        ]
        assert report.valid

    def test_inexact_depth_names_slices(self):
        layer = only_layer(check(volume(1, 9, 8, 8), {"kind": "maxpool3d", "kernel_size": 2}))
        assert layer.output_shape == (1, 4, 4, 4)
        assert layer.formulas[0].note == (
            "depth: 7 is not a multiple of s = 2, so the last slice of the input is never covered and dropped"
        )


class TestPoolingSizes:
    def test_eq17_text_and_default_stride_is_the_kernel(self):
        layer = only_layer(check(image(64, 17), {"kind": "maxpool2d", "kernel_size": 2}))
        assert layer.output_shape == (64, 8, 8)
        formula = layer.formulas[0]
        assert formula.stride == 2
        assert formula.text == "floor((17 - 2) / 2) + 1 = 8"
        assert formula.equation == "17"
        assert formula.special_case is None
        assert layer_formula(layer) == "eq. (17) H, W: floor((17 - 2) / 2) + 1 = 8"
        assert formula.note == (
            "height: 15 is not a multiple of s = 2, so the last row of the input is never covered and dropped"
        )
        assert layer.params == 0 and layer.macs == 0

    def test_default_stride_follows_a_rectangular_kernel(self):
        layer = only_layer(check(image(3, 12, 12), {"kind": "avgpool2d", "kernel_size": [3, 2]}))
        assert layer.output_shape == (3, 4, 6)
        assert [f.stride for f in layer.formulas] == [3, 2]

    def test_overlapping_pooling(self):
        # The lecture's overlapping example: h = 3, s = 2.
        layer = only_layer(check(image(8, 17), {"kind": "maxpool2d", "kernel_size": 3, "stride": 2}))
        assert layer.output_shape == (8, 8, 8)  # floor(14 / 2) + 1
        assert layer.formulas[0].note is None

    def test_padded_pooling_shows_the_padding(self):
        layer = only_layer(check(image(8, 17), {"kind": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1}))
        assert layer.output_shape == (8, 9, 9)
        assert layer.formulas[0].text == "floor((17 - 3 + 2*1) / 2) + 1 = 9"


class TestCounts:
    def test_linear_batchnorm_dropout_and_passthrough(self):
        report = check(
            image(64, 4),
            {"kind": "batchnorm"},
            {"kind": "dropout", "p": 0.25},
            {"kind": "flatten"},
            {"kind": "linear", "out_features": 500},
            {"kind": "batchnorm"},
            {"kind": "linear", "out_features": 10, "bias": False, "activation": "none"},
            {"kind": "activation", "activation": "tanh"},
            {"kind": "softmax"},
        )
        shapes = [layer.output_shape for layer in report.layers]
        assert shapes == [(64, 4, 4), (64, 4, 4), (1024,), (500,), (500,), (10,), (10,), (10,)]
        assert [layer.params for layer in report.layers] == [128, 0, 0, 1024 * 500 + 500, 1000, 5000, 0, 0]
        assert [layer.macs for layer in report.layers] == [0, 0, 0, 1024 * 500, 0, 5000, 0, 0]
        assert report.total_params == 128 + 512_500 + 1000 + 5000
        assert report.total_macs == 512_000 + 5000
        assert report.activation_values == 1024 * 4 + 500 * 2 + 10 * 3
        assert report.activation_bytes == 4 * report.activation_values

    def test_conv_without_bias(self):
        layer = only_layer(check(image(3, 8), conv(5, 3, bias=False)))
        assert layer.params == 5 * 3 * 9
        assert layer.macs == 6 * 6 * 5 * 3 * 9

    def test_linear_with_flatten_input(self):
        layer = only_layer(check(image(3, 4, 5), {"kind": "linear", "out_features": 7, "flatten_input": True}))
        assert layer.problem is None
        assert layer.output_shape == (7,)
        assert layer.params == 60 * 7 + 7

    def test_dropout_keep_probability(self):
        design = Design.model_validate({"input": image(1, 4), "layers": [{"kind": "dropout", "p": 0.25}]})
        assert design.layers[0].keep_probability == 0.75


# --- impossible designs ---------------------------------------------------------------


class TestImpossible:
    def test_kernel_larger_than_the_padded_input(self):
        report = check(image(1, 4), conv(8, 5))
        layer = only_layer(report)
        assert not report.valid
        assert layer.problem.field == "kernel_size"
        assert layer.problem.message.startswith("kernel 5 is larger than the padded input height 4 + 2*0 = 4")
        assert "floor((4 - 5 + 2*0) / 1) + 1 = 0" in layer.problem.message
        assert [fix.description for fix in layer.problem.fixes] == ["kernel at most 4", "padding 2 keeps 4x4"]
        assert layer.problem.fixes[0].changes == {"kernel_size": 4}
        assert layer.problem.fixes[1].changes == {"padding": 2}
        assert report.first_error() == (
            "layer 1 (conv2d): kernel 5 is larger than the padded input height 4 + 2*0 = 4 "
            "(eq. (14) gives floor((4 - 5 + 2*0) / 1) + 1 = 0). Fix: kernel at most 4; or padding 2 keeps 4x4"
        )

    def test_issue_examples_kernel_at_most_5_and_padding_keeps_size(self):
        report = check(image(3, 5), conv(4, 7))
        assert [fix.description for fix in report.layers[0].problem.fixes] == [
            "kernel at most 5", "padding 3 keeps 5x5",
        ]
        design = Design.model_validate({"input": image(3, 5), "layers": [conv(4, 7)]})
        fixed, _ = apply_fix(design, 0, report.layers[0].problem.fixes[1])
        assert infer_shapes(fixed).layers[0].output_shape == (4, 5, 5)  # "keeps 5x5" is true

    def test_strided_kernel_too_large_offers_padding_that_fits(self):
        design = Design.model_validate({"input": image(1, 4), "layers": [conv(8, 6, stride=2)]})
        problem = infer_shapes(design).layers[0].problem
        assert [fix.description for fix in problem.fixes] == ["kernel at most 4", "padding 1 makes it fit"]
        assert_every_fix_works(design, 0)

    def test_rectangular_too_small_on_one_axis(self):
        design = Design.model_validate({"input": image(2, 3, 10), "layers": [conv(4, [5, 4], padding=[0, 1])]})
        report = infer_shapes(design)
        problem = report.layers[0].problem
        assert "height 3 + 2*0 = 3" in problem.message
        assert problem.fixes[0].changes == {"kernel_size": [3, 4]}  # only the height shrinks
        assert_every_fix_works(design, 0)

    def test_pooling_too_small(self):
        design = Design.model_validate({"input": image(3, 2), "layers": [{"kind": "avgpool2d", "kernel_size": 3}]})
        problem = infer_shapes(design).layers[0].problem
        assert problem.field == "kernel_size"
        assert "eq. (17) gives floor((2 - 3) / 3) + 1 = 0" in problem.message
        assert [fix.description for fix in problem.fixes] == ["kernel at most 2"]
        assert_every_fix_works(design, 0)

    def test_pooling_padding_more_than_half_the_kernel(self):
        design = Design.model_validate(
            {"input": image(3, 8), "layers": [{"kind": "maxpool2d", "kernel_size": 3, "padding": 2}]}
        )
        report = infer_shapes(design)
        problem = report.layers[0].problem
        assert problem.field == "padding"
        assert problem.message == "padding 2 is more than half the kernel 3 (PyTorch allows at most 1)"
        assert [fix.changes for fix in problem.fixes] == [{"padding": 1}]
        assert report.first_error().startswith("layer 1 (maxpool2d): padding 2 is more than half")
        assert_every_fix_works(design, 0)

    @pytest.mark.parametrize("kind", ["maxpool3d", "avgpool3d"])
    def test_pooling_padding_fix_also_shrinks_a_kernel_that_does_not_fit(self, kind):
        # Two problems at once: padding 2 is too much for kernel 3 (height), and kernel 3
        # does not fit the depth 2. The one fix offered mends both.
        design = Design.model_validate({"input": volume(1, 2, 8, 8), "layers": [
            {"kind": kind, "kernel_size": 3, "padding": [0, 2, 0]}]})
        problem = infer_shapes(design).layers[0].problem
        assert problem.field == "padding"
        (fix,) = problem.fixes
        assert fix.description == "padding [0, 1, 0] with kernel at most [2, 3, 3]"
        assert fix.changes == {"padding": [0, 1, 0], "kernel_size": [2, 3, 3]}
        assert_every_fix_works(design, 0)

    def test_3d_average_pooling_needs_the_unpadded_input_to_fit_the_kernel(self):
        # PyTorch's avg_pool3d refuses a kernel larger than the input before padding,
        # although eq. (17) with padding would give depth floor((2 - 3 + 2*1) / 3) + 1 = 1.
        design = Design.model_validate({"input": volume(1, 2, 6, 6), "layers": [
            {"kind": "avgpool3d", "kernel_size": [3, 2, 2], "padding": [1, 0, 0]}]})
        problem = infer_shapes(design).layers[0].problem
        assert problem is not None and problem.field == "kernel_size"
        assert "kernel 3 is larger than the input depth 2" in problem.message
        assert_every_fix_works(design, 0)
        # Max pooling has no such rule.
        assert check(volume(1, 2, 6, 6), {"kind": "maxpool3d", "kernel_size": [3, 2, 2],
                                          "padding": [1, 0, 0]}).valid

    @pytest.mark.parametrize(("kind", "other"), [("conv3d", "conv2d"), ("maxpool3d", "maxpool2d"),
                                                 ("avgpool3d", "avgpool2d")])
    def test_3d_layer_on_images(self, kind, other):
        layer = {"kind": kind, "kernel_size": 2, **({"out_channels": 4} if kind == "conv3d" else {})}
        design = Design.model_validate({"input": image(3, 8), "layers": [layer]})
        report = infer_shapes(design)
        problem = report.layers[0].problem
        assert problem.field == "kind"
        assert "needs volumes (channels x depth x height x width) but receives images 3x8x8" in problem.message
        assert "set the input's depth" in problem.message
        assert report.first_error().startswith(f"layer 1 ({kind}): ")
        assert [fix.changes for fix in problem.fixes] == [{"kind": other}]
        assert_every_fix_works(design, 0)

    @pytest.mark.parametrize(("kind", "other"), [("conv2d", "conv3d"), ("maxpool2d", "maxpool3d"),
                                                 ("avgpool2d", "avgpool3d")])
    def test_2d_layer_on_volumes(self, kind, other):
        layer = {"kind": kind, "kernel_size": 2, **({"out_channels": 4} if kind == "conv2d" else {})}
        design = Design.model_validate({"input": volume(1, 4, 8, 8), "layers": [layer]})
        problem = infer_shapes(design).layers[0].problem
        assert problem.field == "kind"
        assert "needs images (channels x height x width) but receives volumes 1x4x8x8" in problem.message
        assert [fix.changes for fix in problem.fixes] == [{"kind": other}]
        assert_every_fix_works(design, 0)

    def test_rank_fix_is_not_offered_when_per_axis_lists_would_not_fit_the_other_kind(self):
        report = check(image(3, 8), {"kind": "conv3d", "out_channels": 4, "kernel_size": [1, 2, 2]})
        assert report.layers[0].problem.fixes == ()

    @pytest.mark.parametrize("layer", [conv(4, 3), {"kind": "maxpool2d", "kernel_size": 2},
                                       {"kind": "avgpool3d", "kernel_size": 2}])
    def test_convolution_or_pooling_after_flatten(self, layer):
        report = check(image(3, 32), {"kind": "flatten"}, layer)
        problem = report.layers[1].problem
        assert problem.message == (
            "needs feature maps but receives a flat vector of 3072 values; "
            "move it above the Flatten, or remove the Flatten"
        )
        assert report.first_error().startswith(f"layer 2 ({layer['kind']}): needs feature maps")
        # A flat vector has no channels: no made-up parameter count for the refused layer.
        assert report.layers[1].params in (None, 0)
        assert report.total_params == 0

    def test_linear_on_unflattened_maps(self):
        design = Design.model_validate({"input": image(3, 32), "layers": [{"kind": "linear", "out_features": 8}]})
        report = infer_shapes(design)
        problem = report.layers[0].problem
        assert problem.message == (
            "needs a flat vector but receives images 3x32x32 (channels x height x width); "
            "insert a Flatten before it to give it 3072 features"
        )
        insert, flatten_input = problem.fixes
        assert insert.insert_before == {"kind": "flatten"} and insert.changes is None
        assert flatten_input.changes == {"flatten_input": True}
        assert report.layers[0].output_shape == (8,)  # known whatever its input: later layers go on
        assert_every_fix_works(design, 0)
        fixed, at = apply_fix(design, 0, insert)
        assert [layer.kind for layer in fixed.layers] == ["flatten", "linear"]
        assert infer_shapes(fixed).layers[at].params == 3072 * 8 + 8

    def test_every_problem_names_its_layer_in_the_table_and_first_error(self):
        report = check(image(3, 8), {"kind": "batchnorm"}, {"kind": "dropout"}, conv(4, 9))
        assert [layer.index for layer in report.problems] == [2]
        assert report.problems[0].label == "layer 3 (conv2d)"
        assert report.first_error().startswith("layer 3 (conv2d): kernel 9")


class TestAfterAnError:
    def test_later_layers_are_still_reported_where_they_can_be(self):
        report = check(
            image(1, 4),
            conv(8, 5),                                         # 1: impossible
            {"kind": "batchnorm"},                              # 2: channels still known
            conv(16, 3, bias=False),                            # 3: parameters need channels only
            {"kind": "conv3d", "out_channels": 2, "kernel_size": 1},  # 4: a 3-D layer on images, still found
            {"kind": "flatten"},
            {"kind": "linear", "out_features": 10},             # 6: output known, parameters not
            {"kind": "linear", "out_features": 5},              # 7: fully known again
            {"kind": "softmax"},
        )
        layers = report.layers
        assert layers[0].output_shape == (8, None, None) and layers[0].params == 8 * 25 + 8
        assert layers[1].output_shape == (8, None, None) and layers[1].params == 16
        assert layers[1].problem is None
        assert layers[2].output_shape == (16, None, None) and layers[2].params == 16 * 8 * 9
        assert layers[2].macs is None
        assert layers[3].problem is not None and layers[3].problem.field == "kind"
        assert layers[5].output_shape == (10,) and layers[5].params is None
        assert layers[6].input_shape == (10,) and layers[6].output_shape == (5,) and layers[6].params == 55
        assert layers[7].output_shape == (5,) and layers[7].output_known
        assert [layer.index for layer in report.problems] == [0, 3]
        assert report.first_error().startswith("layer 1 (conv2d)")

    def test_linear_on_maps_is_found_after_an_earlier_error(self):
        report = check(image(1, 4), conv(8, 5), {"kind": "linear", "out_features": 3})
        assert [problem.index for problem in report.problems] == [0, 1]
        assert "insert a Flatten" in report.layers[1].problem.message
