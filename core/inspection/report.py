"""One inspection of one image: what ``convstudio inspect`` writes and the Inspect view shows.

:func:`inspect_image` runs the forward pass with hooks, saliency, Grad-CAM for
a chosen layer and class, and the effective receptive field of one unit of that
layer; :func:`write_inspection` saves every picture as PNG and the numbers as
``inspection.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from convstudio.core.atomic import atomic_write_text
from convstudio.core.inspection import render
from convstudio.core.inspection.activations import ForwardRecord, LayerActivation, TOP_K, record_activations
from convstudio.core.inspection.attribution import effective_receptive_field, grad_cam, saliency
from convstudio.core.inspection.images import PreparedImage
from convstudio.core.inspection.subject import InspectionError, Subject

JSON_FILE = "inspection.json"


@dataclass(frozen=True, eq=False)
class Inspection:
    """Everything computed about one image."""

    subject: Subject
    image: PreparedImage
    record: ForwardRecord
    class_index: int
    cam_layer: str  # the module Grad-CAM and the clicked unit use
    cam: torch.Tensor  # (H, W) in [0, 1]
    saliency: torch.Tensor  # (H, W)
    unit: tuple[int, int]  # (row, column) in the cam layer's map
    effective_field: torch.Tensor  # (H, W) gradient magnitudes of that unit
    box: tuple[tuple[int, int], tuple[int, int]] | None  # its theoretical field, clipped to the image

    @property
    def class_name(self) -> str:
        return self.subject.classes[self.class_index]

    def top(self) -> list[tuple[int, str, float]]:
        """The top-5 as (class index, class name, probability)."""
        return [(index, self.subject.classes[index], p) for index, p in self.record.top(TOP_K)]


def map_layers(record: ForwardRecord) -> list[LayerActivation]:
    """The recorded outputs that are feature maps (before any flatten)."""
    return [layer for layer in record.layers if layer.is_map]


def resolve_layer(subject: Subject, record: ForwardRecord, name: str | None) -> str:
    """The module to explain: the design layer ``name`` (its output after its activation), or a module name.

    Layers inside blocks go by qualified name (``res1.body.conv1``). None: the
    last convolution's layer, or the outermost block that holds it (its output
    after the sum or join, what the rest of the network sees, as Grad-CAM is
    used on ResNet's last stage). Raises InspectionError for a name that is no
    layer with feature maps, listing the ones there are.
    """
    maps = map_layers(record)
    if not maps:
        raise InspectionError("the design has no convolution, pooling or activation layer with feature maps")
    if name is None:
        convs = [layer for layer in maps if layer.role == "conv"]
        name = (convs[-1].unit or convs[-1].name) if convs else maps[-1].name
        # A convolution inside a block sees only its branch or the body before the shortcut is added.
        outermost = name.split(".")[0]
        if any(layer.name == outermost and layer.role == "block" for layer in maps):
            name = outermost
    owned = [layer.name for layer in maps if layer.unit == name]
    if owned:
        return owned[-1]  # a convolution's activation, when it has one: what the next layer sees
    if any(layer.name == name for layer in maps):
        return name
    choices = ", ".join(dict.fromkeys(layer.unit or layer.name for layer in maps))
    raise InspectionError(f"unknown layer {name!r}: choose a layer with feature maps ({choices})")


def inspect_image(subject: Subject, image: PreparedImage, layer: str | None = None, class_index: int | None = None,
                  unit: tuple[int, int] | None = None) -> Inspection:
    """Inspect ``image``: forward pass, top-5, Grad-CAM and saliency for ``class_index``
    (the predicted class when None) at ``layer``, and the effective field of ``unit`` (the map's centre when None).

    Raises InspectionError for a class out of range, an unknown layer or a unit outside the map.
    """
    model = subject.model
    batch = subject.normalise(image.pixels)
    record = record_activations(model, subject.design, batch)
    classes = record.probabilities.numel()
    if class_index is None:
        class_index = record.top(1)[0][0]
    elif not 0 <= class_index < classes:
        raise InspectionError(f"class {class_index} is out of range: the network has {classes} classes "
                              f"(0 to {classes - 1})")
    module = resolve_layer(subject, record, layer)
    maps = record.layer(module)
    height, width = maps.output.shape[1:]
    if unit is None:
        unit = (height // 2, width // 2)
    elif not (0 <= unit[0] < height and 0 <= unit[1] < width):
        raise InspectionError(f"unit {unit} is outside {module}'s {height}x{width} map: give a row from 0 to "
                              f"{height - 1} and a column from 0 to {width - 1}")
    cam, _ = grad_cam(model, batch, module, class_index)
    effective = effective_receptive_field(model, batch, module, None, unit)
    box = maps.field.clipped_box(unit) if maps.field is not None else None
    return Inspection(subject, image, record, class_index, module, cam, saliency(model, batch, class_index),
                      unit, effective, box)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _clean(stats: dict) -> dict:
    """Statistics with any infinity or NaN (a diverged network) as null: standard JSON."""
    cleaned = {key: _finite(value) if isinstance(value, float) else value for key, value in stats.items()}
    histogram = stats["histogram"]
    cleaned["histogram"] = {"counts": histogram["counts"], "edges": [_finite(edge) for edge in histogram["edges"]]}
    return cleaned


def inspection_json(inspection: Inspection, files: list[str]) -> dict:
    """The numbers of an inspection as plain JSON data."""
    image = inspection.image
    classes = inspection.subject.classes
    cam_peak = divmod(int(torch.argmax(inspection.cam)), inspection.cam.shape[1])
    saliency_peak = divmod(int(torch.argmax(inspection.saliency)), inspection.saliency.shape[1])
    layer = inspection.record.layer(inspection.cam_layer)
    return {
        "subject": inspection.subject.description,
        "image": {"source": image.source, "resize": image.resize, "label": image.label,
                  "label_name": classes[image.label] if image.label is not None and image.label < len(classes) else None},
        "top5": [{"class": index, "name": name, "probability": p} for index, name, p in inspection.top()],
        "class": {"index": inspection.class_index, "name": inspection.class_name},
        "gradcam": {"layer": inspection.cam_layer, "peak": list(cam_peak)},
        "saliency": {"peak": list(saliency_peak)},
        "unit": {"layer": inspection.cam_layer, "row": inspection.unit[0], "column": inspection.unit[1],
                 "receptive_field": list(layer.field.sizes) if layer.field is not None else None,
                 "box": [list(span) for span in inspection.box] if inspection.box is not None else None},
        "layers": [
            {"name": activation.name, "role": activation.role, "shape": list(activation.output.shape),
             "receptive_field": list(activation.field.sizes) if activation.field is not None else None,
             **_clean(activation.statistics())}
            for activation in inspection.record.layers
        ],
        "files": files,
    }


def pictures(inspection: Inspection, shared_scale: bool = True, sort_by_mean: bool = False,
             scale: str = "viridis", opacity: float = 0.5) -> dict[str, "render.Image.Image"]:
    """Every picture of an inspection by its file name (``maps/conv1_relu.png`` ...)."""
    pixels = inspection.image.pixels
    top = [(name, p) for _, name, p in inspection.top()]
    out = {
        "image.png": render.image_picture(pixels, inspection.image.source),
        "top5.png": render.top_picture(top, f"top-{len(top)}"),
        "saliency.png": render.overlay_picture(pixels, inspection.saliency / (inspection.saliency.max() or 1),
                                               opacity, f"saliency of {inspection.class_name}"),
        "gradcam.png": render.overlay_picture(pixels, inspection.cam, opacity,
                                              f"Grad-CAM of {inspection.class_name} at {inspection.cam_layer}"),
        "receptive_field.png": render.receptive_field_picture(
            pixels, inspection.box, inspection.effective_field,
            f"{inspection.cam_layer} unit (row {inspection.unit[0]}, column {inspection.unit[1]})"),
    }
    for layer in map_layers(inspection.record):
        out[f"maps/{layer.name}.png"] = render.feature_grid(layer.output, layer.title, shared_scale, sort_by_mean,
                                                            scale)
    out.update({f"{name}.png": picture for name, picture in pictures_of_statistics(inspection).items()})
    for name, _ in conv_modules(inspection.subject.model)[1:]:
        out[f"filters/{name}.png"] = deeper_filters_picture(inspection, name)
    return out


def conv_modules(model: torch.nn.Module) -> list[tuple[str, torch.nn.Conv2d]]:
    """Every 2-D convolution module of the model by name, in order."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, torch.nn.Conv2d)]


def deeper_filters_picture(inspection: Inspection, name: str) -> "render.Image.Image":
    """A deeper convolution's filters, each as its mean over the input channels."""
    module = dict(conv_modules(inspection.subject.model))[name]
    return render.filters_picture(module.weight.mean(dim=1, keepdim=True),
                                  f"{name}'s filters, mean over its {module.in_channels} input channels")


def pictures_of_statistics(inspection: Inspection) -> dict[str, "render.Image.Image"]:
    """``filters`` (the first convolution's, when there is one) and ``histograms`` (every inspected layer)."""
    out = {}
    convolutions = conv_modules(inspection.subject.model)
    if convolutions:
        name, first = convolutions[0]
        out["filters"] = render.filters_picture(first.weight, f"{name}'s filters (the first convolution)")
    charts = []
    for layer in inspection.record.layers:
        stats = layer.statistics()
        zero = f", {stats['zero_fraction']:.0%} zero" if layer.role == "activation" else ""
        charts.append(render.histogram_chart(stats["histogram"]["counts"], stats["histogram"]["edges"],
                                             f"{layer.name} {layer.shape_text}{zero}"))
    out["histograms"] = render.histograms_picture(charts)
    return out


def write_inspection(inspection: Inspection, out_dir: str | Path, **options) -> list[Path]:
    """Save every picture as PNG under ``out_dir`` and the numbers as ``inspection.json``; returns the files."""
    out_dir = Path(out_dir)
    written = [render.save_png(image, out_dir / name) for name, image in pictures(inspection, **options).items()]
    names = [path.relative_to(out_dir).as_posix() for path in written]
    data = inspection_json(inspection, names + [JSON_FILE])
    atomic_write_text(out_dir / JSON_FILE, json.dumps(data, indent=2, allow_nan=False) + "\n")
    return written + [out_dir / JSON_FILE]
