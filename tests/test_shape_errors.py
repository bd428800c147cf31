"""The shape engine on impossible designs: each error names the layer and the term
at fault, and every fix it offers makes the layer valid.
"""

from __future__ import annotations

import pytest

from convstudio.core.design import Design
from convstudio.core.shapes import infer_shapes
from shape_helpers import apply_fix, assert_every_fix_works, check, conv, image, only_layer, volume


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
