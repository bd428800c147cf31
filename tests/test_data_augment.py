"""augment_batch: each augmentation does what it says, per sample, reproducibly."""

from __future__ import annotations

import math

import pydantic
import pytest
import torch

from convstudio.core.data import AugmentationSettings, augment_batch


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_images(count: int = 16, channels: int = 3, height: int = 16, width: int = 16, low=0.0, high=1.0):
    return low + (high - low) * torch.rand(count, channels, height, width, generator=seeded(99))


def test_settings_validate_and_describe_every_field():
    settings = AugmentationSettings()
    assert not settings.enabled
    for field, on in [
        ("flip", True),
        ("rotate_degrees", 10.0),
        ("crop_scale", 0.5),
        ("crop_padding", 2),
        ("brightness", 0.1),
        ("contrast", 0.1),
    ]:
        assert AugmentationSettings(**{field: on}).enabled, field
    for bad in [{"rotate_degrees": 181}, {"crop_scale": 0.2}, {"crop_padding": 17}, {"brightness": -1}, {"hue": 1}]:
        with pytest.raises(pydantic.ValidationError):
            AugmentationSettings(**bad)
    for name, field in AugmentationSettings.model_fields.items():
        assert field.description, f"{name} needs a description for the GUI"


def test_all_off_is_the_identity():
    images = random_images()
    assert augment_batch(images, AugmentationSettings(), seeded()) is images


def test_flip_mirrors_about_half_the_samples_whole():
    images = random_images(200)
    out = augment_batch(images, AugmentationSettings(flip=True), seeded(1))
    same = (out == images).flatten(1).all(1)
    mirrored = (out == images.flip(3)).flatten(1).all(1)
    assert bool((same | mirrored).all())
    assert 60 < int(mirrored.sum()) < 140


def blob_image(height: int, width: int, row: int, col: int) -> torch.Tensor:
    image = torch.zeros(1, height, width)
    image[0, row - 1 : row + 2, col - 1 : col + 2] = 1.0
    return image


def centroids(images: torch.Tensor) -> torch.Tensor:
    """Intensity-weighted (row, col) of each single-channel image."""
    _, _, height, width = images.shape
    rows = torch.arange(height, dtype=images.dtype).view(1, height, 1)
    cols = torch.arange(width, dtype=images.dtype).view(1, 1, width)
    mass = images[:, 0].sum((1, 2))
    return torch.stack([(images[:, 0] * rows).sum((1, 2)) / mass, (images[:, 0] * cols).sum((1, 2)) / mass], 1)


@pytest.mark.parametrize(("height", "width"), [(33, 33), (33, 49), (49, 33)])
def test_rotation_turns_about_the_centre_within_the_range(height, width):
    centre_row, centre_col = (height - 1) / 2, (width - 1) / 2
    # Blobs 10 pixels right of and 10 pixels below the centre (odd sizes: the centre is a pixel).
    right = blob_image(height, width, int(centre_row), int(centre_col) + 10)
    below = blob_image(height, width, int(centre_row) + 10, int(centre_col))
    images = torch.stack([right] * 32 + [below] * 32)
    out = augment_batch(images, AugmentationSettings(rotate_degrees=30), seeded(2))
    found = centroids(out)
    offset_row, offset_col = found[:, 0] - centre_row, found[:, 1] - centre_col
    # Rotation keeps the distance to the centre, in pixels, whatever the aspect ratio.
    assert torch.allclose(torch.hypot(offset_row, offset_col), torch.full((64,), 10.0), atol=0.3)
    turned = torch.atan2(offset_row, offset_col) - torch.tensor([0.0] * 32 + [math.pi / 2] * 32)
    degrees = turned * 180 / math.pi
    assert bool((degrees.abs() <= 30.5).all())
    assert degrees.std() > 8  # angles are drawn per sample, spread over the range
    assert torch.allclose(out.sum((1, 2, 3)), images.sum((1, 2, 3)), rtol=0.02)


def test_crop_scale_stretches_a_window_of_the_image_to_full_size():
    width = 32
    ramp = ((torch.arange(width) + 0.5) / width).view(1, 1, 1, width).expand(64, 1, 24, width).contiguous()
    out = augment_batch(ramp, AugmentationSettings(crop_scale=0.3), seeded(3))
    # No rotation: every row of an output is the same, still a straight ramp.
    assert torch.allclose(out, out[:, :, :1].expand_as(out), atol=1e-5)
    interior = out[:, 0, 0, 2:-2]
    steps = interior[:, 1:] - interior[:, :-1]
    assert torch.allclose(steps, steps[:, :1].expand_as(steps), atol=1e-4)
    # The ramp's slope is the crop's width as a share of the image: sqrt(0.3 * 3/4) at least.
    crop_width = steps[:, 0] * width
    assert bool((crop_width > 0.47).all()) and bool((crop_width <= 1 + 1e-4).all())
    assert float(crop_width.min()) < 0.8  # some samples really are zoomed in
    low, high = out[:, 0, 0].min(1).values, out[:, 0, 0].max(1).values
    assert bool((low >= 0).all()) and bool((high <= 1).all())


def test_crop_padding_shifts_whole_pixels_with_mirrored_edges():
    images = random_images(40, height=12, width=14)
    out = augment_batch(images, AugmentationSettings(crop_padding=2), seeded(4))
    seen = set()
    for image, shifted in zip(images, out, strict=True):
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(shifted[:, 2:-2, 2:-2], image[:, 2 + dy : 10 + dy, 2 + dx : 12 + dx])
        ]
        assert len(matches) == 1
        dy, dx = matches[0]
        seen.add((dy, dx))
        # Beyond the edge the image is mirrored (reflect padding, the edge pixel not repeated).
        if dx == 2:
            assert torch.equal(shifted[:, 2:-2, -1], image[:, 2 + dy : 10 + dy, -3])
    assert len(seen) > 8


def test_brightness_scales_each_image_by_one_factor_in_range():
    images = random_images(64, low=0.2, high=0.5)
    out = augment_batch(images, AugmentationSettings(brightness=0.5), seeded(5))
    ratio = out / images
    factor = ratio.flatten(1).mean(1)
    assert torch.allclose(ratio, factor.view(-1, 1, 1, 1).expand_as(ratio), atol=1e-5)
    assert bool((factor >= 0.5 - 1e-6).all()) and bool((factor <= 1.5 + 1e-6).all())
    assert factor.std() > 0.15
    strong = augment_batch(random_images(64), AugmentationSettings(brightness=1.0), seeded(5))
    assert float(strong.min()) >= 0 and float(strong.max()) <= 1


def test_contrast_scales_distance_from_the_mean_grey():
    images = random_images(64, low=0.3, high=0.6)
    out = augment_batch(images, AugmentationSettings(contrast=0.8), seeded(6))
    luma = torch.tensor([0.2989, 0.587, 0.114]).view(1, 3, 1, 1)
    grey = (images * luma).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    before, after = (images - grey).flatten(1), (out - grey).flatten(1)
    factor = (before * after).sum(1) / (before * before).sum(1)
    assert torch.allclose(after, factor.view(-1, 1) * before, atol=1e-5)
    assert bool((factor >= 0.2 - 1e-5).all()) and bool((factor <= 1.8 + 1e-5).all())
    assert factor.std() > 0.2
    grey_after = (out * luma).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    assert torch.allclose(grey_after, grey, atol=1e-4)  # the luma weights sum to 0.9999


EVERYTHING = AugmentationSettings(
    flip=True, rotate_degrees=20, crop_scale=0.6, crop_padding=2, brightness=0.3, contrast=0.3
)


def test_everything_on_keeps_shape_range_and_is_reproducible():
    images = random_images(32, height=20, width=24)
    out = augment_batch(images, EVERYTHING, seeded(7))
    assert out.shape == images.shape and out.dtype == images.dtype
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.equal(out, augment_batch(images, EVERYTHING, seeded(7)))
    assert not torch.equal(out, augment_batch(images, EVERYTHING, seeded(8)))
    grey = torch.zeros(1, 1, 16, 16)
    grey[..., 4:8, 2:6] = 0.8
    twins = augment_batch(grey.expand(8, 3, 16, 16).contiguous(), EVERYTHING, seeded(9))
    assert len({twin.numpy().tobytes() for twin in twins}) == 8  # each sample draws its own


def test_one_channel_images_work():
    out = augment_batch(random_images(8, channels=1), EVERYTHING, seeded(10))
    assert out.shape == (8, 1, 16, 16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_with_a_cuda_generator():
    images = random_images(64).cuda()
    generator = torch.Generator(device="cuda").manual_seed(0)
    out = augment_batch(images, EVERYTHING, generator)
    assert out.device == images.device and out.shape == images.shape
    again = augment_batch(images, EVERYTHING, torch.Generator(device="cuda").manual_seed(0))
    assert torch.equal(out, again)
    with pytest.raises(ValueError, match="generator"):
        augment_batch(images, EVERYTHING, seeded(0))
