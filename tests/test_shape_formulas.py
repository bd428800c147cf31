"""The shape engine on hand-computed cases: the lecture's size formulas, the texts
it shows, and parameter and multiply-accumulate counts.

Equation numbers are those of the lecture (IE 398 lecture 6): (7) no padding,
stride 1; (10) padding; (12) stride; (14) both; (17) pooling; (3)-(4) 3-D
convolution. Impossible designs are in test_shape_errors.py.
"""

from __future__ import annotations

from convstudio.core.design import Design
from convstudio.core.report_text import layer_formula
from shape_helpers import check, conv, image, only_layer, volume


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
