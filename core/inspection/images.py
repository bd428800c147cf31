"""The image to look at: a file resized to the design's input, or an image of a dataset split.

Every image is uint8 (C, H, W) at the design's input size, with a sentence that
says where it came from and how it was resized, so the views can show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from convstudio.core.data import DatasetSplits
from convstudio.core.design import InputSpec
from convstudio.core.inspection.subject import InspectionError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True, eq=False)
class PreparedImage:
    """An image at the design's input size, ready to normalise."""

    pixels: torch.Tensor  # uint8 (C, H, W)
    source: str  # "test image 12 of shapes" or the file's path
    resize: str  # how it was brought to the input size ("" when it already had it)
    label: int | None = None  # the true class, for a dataset image


def read_image_file(path: str | Path, spec: InputSpec) -> PreparedImage:
    """Read a PNG, JPEG or other image file and resize it to the design's input (bilinear, antialiased).

    Colour images become grey for a 1-channel design and grey images colour for
    a 3-channel one. Raises InspectionError for a file that is not a readable image.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.is_dir():
        raise InspectionError(f"{path} is a folder, not an image file; give a PNG or JPEG file")
    try:
        with Image.open(path) as opened:
            original_size, original_mode = opened.size, opened.mode
            image = opened.convert("L" if spec.channels == 1 else "RGB")
    except FileNotFoundError:
        raise InspectionError(f"{path}: no such image file") from None
    except (UnidentifiedImageError, OSError) as error:
        raise InspectionError(f"{path}: not a readable image ({error.__class__.__name__}); "
                              "use a PNG or JPEG file") from None
    if spec.channels not in (1, 3):
        raise InspectionError(f"{path}: the design takes {spec.channels} channels; an image file gives 1 (grey) "
                              "or 3 (colour), so pick a dataset image instead")
    target = (spec.width, spec.height)
    steps = []
    if image.mode != original_mode:
        steps.append(f"converted from {original_mode} to {image.mode}")
    if image.size != target:
        image = image.resize(target, Image.Resampling.BILINEAR, reducing_gap=None)
        steps.append(f"resized from {original_size[0]}x{original_size[1]} to {target[0]}x{target[1]} "
                     "(bilinear, antialiased)")
    array = np.asarray(image, dtype=np.uint8)
    pixels = torch.from_numpy(array.copy()).unsqueeze(0) if array.ndim == 2 else torch.from_numpy(
        array.transpose(2, 0, 1).copy())
    return PreparedImage(pixels, str(path), "; ".join(steps))


def dataset_image(data: DatasetSplits, index: int, split: str = "test", spec: InputSpec | None = None) -> PreparedImage:
    """Image ``index`` (0-based) of a split; resized when ``spec`` asks for another size.

    Raises InspectionError for an index out of range or an empty split.
    """
    if split not in SPLITS:
        raise InspectionError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    images = getattr(data, f"{split}_images")
    count = int(images.shape[0])
    if count == 0:
        raise InspectionError(f"{data.name} has no {split} images; pick another split or an image file")
    if not 0 <= index < count:
        raise InspectionError(f"{split} image {index} does not exist: {data.name} has {count} {split} images "
                              f"(indices 0 to {count - 1})")
    image = PreparedImage(images[index], f"{split} image {index} of {data.name}", "",
                          int(getattr(data, f"{split}_labels")[index]))
    return fit_to_input(image, spec) if spec is not None else image


def fit_to_input(image: PreparedImage, spec: InputSpec) -> PreparedImage:
    """``image`` resized to the design's input (bilinear, antialiased), grey made colour or colour grey.

    Raises InspectionError for channel counts that cannot be converted.
    """
    pixels, steps = image.pixels, [image.resize] if image.resize else []
    channels = pixels.shape[0]
    if channels != spec.channels:
        if (channels, spec.channels) == (1, 3):
            pixels = pixels.expand(3, -1, -1).contiguous()
        elif (channels, spec.channels) == (3, 1):
            weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)  # ITU-R 601 luma, as PIL's "L"
            pixels = (pixels.float() * weights).sum(dim=0, keepdim=True).round().clamp(0, 255).to(torch.uint8)
        else:
            raise InspectionError(f"{image.source} has {channels} channels but the design takes {spec.channels}; "
                                  "pick an image of the design's dataset")
        steps.append(f"converted from {channels} to {spec.channels} channels")
    if tuple(pixels.shape[1:]) != (spec.height, spec.width):
        resized = torch.nn.functional.interpolate(pixels[None].float(), size=(spec.height, spec.width),
                                                  mode="bilinear", antialias=True, align_corners=False)
        steps.append(f"resized from {pixels.shape[2]}x{pixels.shape[1]} to {spec.width}x{spec.height} "
                     "(bilinear, antialiased)")
        pixels = resized[0].round().clamp(0, 255).to(torch.uint8)
    if pixels is image.pixels:
        return image
    return PreparedImage(pixels, image.source, "; ".join(steps), image.label)
