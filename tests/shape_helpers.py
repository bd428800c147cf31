"""Small builders and checks shared by the shape-engine tests."""

from __future__ import annotations

from convstudio.core.design import Design
from convstudio.core.shape_records import DesignReport, LayerFix, LayerShape
from convstudio.core.shapes import infer_shapes


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
