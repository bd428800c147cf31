"""The pictures the Inspect view shows for one image, and how they follow the user's choices.

:func:`run_view` is what the view runs off the GUI thread when the image, the
network, the layer or the class changes: the inspection and every picture it
shows. Cheap changes (colour scale, channel order, opacity, a clicked unit)
redraw single pictures with the functions below. ``bench/inspect_render.py``
times :func:`run_view` as the view calls it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PIL import Image

from convstudio.core.inspection import render
from convstudio.core.inspection.activations import LayerActivation, module_owners
from convstudio.core.inspection.attribution import effective_receptive_field
from convstudio.core.inspection.images import PreparedImage
from convstudio.core.inspection.report import (
    Inspection, conv_modules, deeper_filters_picture, inspect_image, map_layers, pictures_of_statistics,
)
from convstudio.core.inspection.subject import Subject

OVERLAYS = ("Grad-CAM", "saliency")


@dataclass(frozen=True)
class ViewOptions:
    """What the user chose in the Inspect view."""

    layer: str | None = None  # design layer or module for Grad-CAM and the feature maps; None: the last conv
    class_index: int | None = None  # None: the predicted class
    scale: str = "viridis"  # colour scale of the feature maps (render.COLOUR_SCALES)
    shared_scale: bool = True  # one colour scale for every tile of a layer
    sort_by_mean: bool = False  # channels ordered by mean activation
    overlay: str = "Grad-CAM"  # or "saliency"
    opacity: float = 0.5  # of the overlay over the image


def feature_maps_picture(layer: LayerActivation, options: ViewOptions) -> Image.Image:
    """The grid of ``layer``'s feature maps as the options say."""
    return render.feature_grid(layer.output, layer.title, options.shared_scale, options.sort_by_mean, options.scale)


def overlay_picture(inspection: Inspection, options: ViewOptions) -> Image.Image:
    """Grad-CAM or saliency over the image at the chosen opacity."""
    if options.overlay == "saliency":
        heat = inspection.saliency / (float(inspection.saliency.max()) or 1.0)
        title = f"saliency of {inspection.class_name}"
    else:
        heat = inspection.cam
        title = f"Grad-CAM of {inspection.class_name} at {inspection.cam_layer}"
    return render.overlay_picture(inspection.image.pixels, heat, options.opacity, title)


def receptive_field_picture(inspection: Inspection) -> Image.Image:
    """The clicked unit's theoretical field on the image beside its effective field."""
    layer = inspection.record.layer(inspection.cam_layer)
    size = "x".join(map(str, layer.field.sizes)) if layer.field is not None else "?"
    row, column = inspection.unit
    return render.receptive_field_picture(
        inspection.image.pixels, inspection.box, inspection.effective_field,
        f"{inspection.cam_layer} unit (row {row}, column {column}): receptive field {size}")


def with_unit(inspection: Inspection, unit: tuple[int, int], channel: int | None = None) -> Inspection:
    """The same inspection with another unit of its layer clicked: its effective and theoretical field.

    ``channel`` None sums the layer's channels at that place.
    """
    subject = inspection.subject
    batch = subject.normalise(inspection.image.pixels)
    effective = effective_receptive_field(subject.model, batch, inspection.cam_layer, channel, unit)
    field = inspection.record.layer(inspection.cam_layer).field
    box = field.clipped_box(unit) if field is not None else None
    return replace(inspection, unit=unit, effective_field=effective, box=box)


@dataclass(frozen=True, eq=False)
class ViewResult:
    """An inspection and the pictures the view shows of it."""

    inspection: Inspection
    pictures: dict[str, Image.Image]  # image, top5, maps, overlay, receptive_field, filters, histograms


def view_pictures(inspection: Inspection, options: ViewOptions) -> dict[str, Image.Image]:
    """Every picture the view shows for ``inspection``."""
    top = [(name, p) for _, name, p in inspection.top()]
    image = inspection.image
    caption = image.source + (f" ({image.resize})" if image.resize else "")
    return {
        "image": render.image_picture(image.pixels, caption if len(caption) < 60 else image.source),
        "top5": render.top_picture(top, f"top-{len(top)}"),
        "maps": feature_maps_picture(inspection.record.layer(inspection.cam_layer), options),
        "overlay": overlay_picture(inspection, options),
        "receptive_field": receptive_field_picture(inspection),
        **pictures_of_statistics(inspection),
        "layer_filters": layer_filters_picture(inspection),
    }


def layer_filters_picture(inspection: Inspection) -> Image.Image | None:
    """The chosen layer's filters (mean over input channels) when it is a convolution after the first."""
    unit = inspection.record.layer(inspection.cam_layer).unit
    owners = module_owners(inspection.subject.model, inspection.subject.design)
    deeper = [name for name, _ in conv_modules(inspection.subject.model)[1:]]
    owned = [name for name in deeper if unit is not None and owners.get(name, (None,))[0] == unit]
    return deeper_filters_picture(inspection, owned[0]) if owned else None


def run_view(subject: Subject, image: PreparedImage, options: ViewOptions) -> ViewResult:
    """Inspect ``image`` as the options say and draw every picture the view shows."""
    inspection = inspect_image(subject, image, options.layer, options.class_index)
    return ViewResult(inspection, view_pictures(inspection, options))


def layer_choices(inspection: Inspection) -> list[str]:
    """The modules with feature maps, in forward order: what the layer list offers."""
    return [layer.name for layer in map_layers(inspection.record)]
