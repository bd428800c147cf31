"""Data augmentation on whole batches, on the training device (airbench style).

The lecture's augmentations: random horizontal flip, rotation, crop and resize,
and brightness and contrast, each with its strength in
:class:`AugmentationSettings`. :func:`augment_batch` draws every random choice
per sample and applies it to the whole batch with a handful of tensor
operations (one ``torch.where`` for the flip, one ``grid_sample`` for rotation
and crop/resize together, one gather for pad-and-crop, per-sample multiplies for
brightness and contrast), so the cost does not grow with Python work per image.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from convstudio.core.data.augmentation_settings import AugmentationSettings

# ITU-R 601 luma weights, as torchvision's rgb_to_grayscale uses for contrast.
_LUMA = (0.2989, 0.587, 0.114)
# Aspect ratios a random-resized crop may take, as in torchvision's RandomResizedCrop.
_CROP_RATIO = (3 / 4, 4 / 3)


def augment_batch(
    images: torch.Tensor, settings: AugmentationSettings, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Augment float images (N, C, H, W) in [0, 1], each sample with its own random draws.

    Works on whatever device ``images`` are on. ``generator`` must live on that same
    device (``torch.Generator(device=images.device)``); the same generator state gives
    the same result. Without one, torch's default generator for that device is used.
    The steps run in a fixed order: flip, rotation and crop/resize (one bilinear
    resampling, mirroring at the borders), pad-and-crop shift, brightness, contrast;
    values are clamped to [0, 1] after each colour step, as torchvision does.
    Returns a new tensor (or ``images`` itself when every augmentation is off).
    """
    if images.dim() != 4:
        raise ValueError(f"images must be a batch (N, C, H, W), not a tensor of shape {tuple(images.shape)}")
    if generator is not None and generator.device.type != images.device.type:
        raise ValueError(
            f"the generator is on {generator.device} but the images are on {images.device}: "
            "create it with torch.Generator(device=images.device)"
        )
    if not settings.enabled:
        return images
    n = images.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        draw = torch.rand(n, generator=generator, device=images.device, dtype=torch.float32)
        return low + (high - low) * draw

    out = images
    if settings.flip:
        flipped = (uniform(0, 1) < 0.5).view(n, 1, 1, 1)
        out = torch.where(flipped, out.flip(3), out)
    if settings.rotate_degrees > 0 or settings.crop_scale < 1:
        out = _rotate_and_crop(out, settings, uniform)
    if settings.crop_padding > 0:
        out = _shift_with_reflection(out, settings.crop_padding, generator)
    if settings.brightness > 0:
        factor = uniform(1 - settings.brightness, 1 + settings.brightness).to(out.dtype).view(n, 1, 1, 1)
        out = (out * factor).clamp_(0, 1)
    if settings.contrast > 0:
        factor = uniform(1 - settings.contrast, 1 + settings.contrast).to(out.dtype).view(n, 1, 1, 1)
        out = torch.lerp(_mean_grey(out), out, factor).clamp_(0, 1)
    return out


def _rotate_and_crop(
    images: torch.Tensor, settings: AugmentationSettings, uniform: Callable[[float, float], torch.Tensor]
) -> torch.Tensor:
    """Rotate, then take a random resized crop, as one affine resampling per sample."""
    n, _, height, width = images.shape
    angle = uniform(-settings.rotate_degrees, settings.rotate_degrees) * (math.pi / 180)
    if settings.crop_scale < 1:
        area = uniform(settings.crop_scale, 1.0)
        ratio = torch.exp(uniform(math.log(_CROP_RATIO[0]), math.log(_CROP_RATIO[1])))
        # Half-extents of the crop in normalised coordinates ([-1, 1] spans the image).
        half_w = torch.sqrt(area * ratio).clamp(max=1.0)
        half_h = torch.sqrt(area / ratio).clamp(max=1.0)
        centre_x = (2 * uniform(0, 1) - 1) * (1 - half_w)
        centre_y = (2 * uniform(0, 1) - 1) * (1 - half_h)
    else:
        half_w = half_h = torch.ones(n, device=images.device)
        centre_x = centre_y = torch.zeros(n, device=images.device)
    # The rotation acts in pixel units; in normalised coordinates it is
    # S^-1 R S with S = diag(W, H), which keeps non-square images undistorted.
    cos, sin = torch.cos(angle), torch.sin(angle)
    sin_x, sin_y = sin * (height / width), sin * (width / height)
    theta = torch.stack(
        [
            torch.stack([cos * half_w, -sin_x * half_h, cos * centre_x - sin_x * centre_y], 1),
            torch.stack([sin_y * half_w, cos * half_h, sin_y * centre_x + cos * centre_y], 1),
        ],
        1,
    ).to(images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _shift_with_reflection(images: torch.Tensor, padding: int, generator: torch.Generator | None) -> torch.Tensor:
    """Pad by mirroring and crop back at a random offset per sample: an exact whole-pixel shift."""
    n, channels, height, width = images.shape
    device = images.device

    def positions(size: int) -> torch.Tensor:
        reach = min(padding, size - 1)  # mirroring cannot reach further than the image
        shift = torch.randint(-reach, reach + 1, (n, 1), generator=generator, device=device)
        index = (torch.arange(size, device=device) + shift).abs()
        return torch.where(index > size - 1, 2 * (size - 1) - index, index)

    rows, cols = positions(height), positions(width)
    flat = (rows.unsqueeze(2) * width + cols.unsqueeze(1)).view(n, 1, height * width)
    shifted = images.reshape(n, channels, height * width).gather(2, flat.expand(n, channels, height * width))
    return shifted.view(n, channels, height, width)


def _mean_grey(images: torch.Tensor) -> torch.Tensor:
    """Each image's mean grey level, shaped (N, 1, 1, 1)."""
    if images.shape[1] == 3:
        # Python-number weights: no constant tensor to copy to the device every batch.
        grey = images[:, 0] * _LUMA[0] + images[:, 1] * _LUMA[1] + images[:, 2] * _LUMA[2]
        return grey.mean((1, 2)).view(-1, 1, 1, 1)
    return images.mean((1, 2, 3), keepdim=True)
