"""The built-in dataset: ten classes of shapes, drawn from a seed, no download.

Every image is a shape of one class over a two-colour gradient background, with
thin lines, dots and noise as clutter. Position, size, rotation, shape colour and
background vary per image, and the shape may be lighter or darker than its
background, so no single pixel template separates the classes: a linear
classifier on raw pixels stays far below a small CNN.

Images are drawn a chunk at a time (to bound memory), all images of a chunk at
once, as tensor operations on a coordinate grid; the shape is drawn at twice the
resolution and averaged 2x2 for smooth edges. Every random number comes from one
seeded ``torch.Generator`` in a fixed order, so the same seed gives bit-identical
images on the same software.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SHAPES_CLASSES: tuple[str, ...] = (
    "disk",
    "square",
    "triangle",
    "plus",
    "ring",
    "star",
    "crescent",
    "frame",
    "bars",
    "hourglass",
)

_CHUNK = 1024  # images drawn together: 1024 x 64 x 64 floats per fine grid, about 16 MB
_LINES = 2  # clutter lines per image, drawn behind the shape
_DOTS = 3  # clutter dots per image, drawn over everything
_MAX_TILT = math.radians(25)  # shapes turn by up to this much either way
_NOISE = 0.03  # standard deviation of the pixel noise, in [0, 1] pixel units


def _star_radius(angle: torch.Tensor) -> torch.Tensor:
    """Outline of a five-pointed star in polar form: tips at radius 1, notches at 0.4."""
    phase = torch.remainder(angle * (5 / (2 * math.pi)) + 0.25, 1.0)
    return 0.4 + 0.6 * (2 * phase - 1).abs() ** 1.5


def _shape_mask(kind: int, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Inside (True) or outside of shape ``kind`` at local coordinates, unit radius."""
    r = torch.sqrt(u * u + v * v)
    box = torch.maximum(u.abs(), v.abs())
    name = SHAPES_CLASSES[kind]
    if name == "disk":
        return r <= 0.85
    if name == "square":
        return box <= 0.7
    if name == "triangle":
        # Three half-planes whose normals point at 90, 210 and 330 degrees.
        inside = torch.ones_like(u, dtype=torch.bool)
        for corner in range(3):
            phi = math.pi / 2 + corner * 2 * math.pi / 3
            inside &= u * math.cos(phi) + v * math.sin(phi) <= 0.48
        return inside
    if name == "plus":
        return ((u.abs() <= 0.26) & (v.abs() <= 0.9)) | ((v.abs() <= 0.26) & (u.abs() <= 0.9))
    if name == "ring":
        return (r <= 0.9) & (r >= 0.52)
    if name == "star":
        return r <= _star_radius(torch.atan2(v, u))
    if name == "crescent":
        return (r <= 0.9) & ((u - 0.42) ** 2 + v * v >= 0.72**2)
    if name == "frame":
        return (box <= 0.8) & (box >= 0.46)
    if name == "bars":
        stripe = torch.remainder(v + 0.9, 0.72) <= 0.36
        return (u.abs() <= 0.85) & (v.abs() <= 0.9) & stripe
    if name == "hourglass":
        return (u.abs() <= 0.85 * v.abs()) & (v.abs() <= 0.85)
    raise ValueError(f"no shape class {kind}")


class _Grid:
    """Pixel-centre coordinates of n images, in units of the nominal 32-pixel image.

    Every quantity the drawing needs is a per-image linear function of x and y,
    ``a * x + b * y + c``, or a sum of squares, which split into a row term
    (n, 1, w) and a column term (n, h, 1): a full-size tensor costs one broadcast
    addition.
    """

    def __init__(self, params: dict[str, torch.Tensor], pixels: int) -> None:
        self.params = params
        axis = (torch.arange(pixels, dtype=torch.float64) + 0.5) * (32.0 / pixels)
        self.x, self.y = axis.view(1, 1, pixels), axis.view(1, pixels, 1)

    def per_image(self, name: str, *index: int) -> torch.Tensor:
        """One value per image, shaped (n, 1, 1) to broadcast over the pixels."""
        return self.params[name][(slice(None), *index)].view(-1, 1, 1)

    def linear(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """a * x + b * y + c for per-image coefficients shaped (n, 1, 1); float32 (n, h, w)."""
        return (a * self.x + c).float() + (b * self.y).float()

    def distance2(self, cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
        """Squared distance from every pixel to a per-image point; float32 (n, h, w)."""
        return (self.x - cx).square().float() + (self.y - cy).square().float()


def _draw_chunk(params: dict[str, torch.Tensor], labels: torch.Tensor, size: int, noise: torch.Tensor) -> torch.Tensor:
    """Draw one chunk of images as floats in [0, 1], shape (n, 3, size, size)."""
    n = labels.shape[0]
    grid = _Grid(params, size)

    # Background: a linear gradient between two colours along a random direction.
    angle = grid.per_image("gradient_angle")
    along = grid.linear(angle.cos() / 45, angle.sin() / 45, 0.5 - 16 * (angle.cos() + angle.sin()) / 45)
    mix = along.clamp_(0, 1).unsqueeze(1)
    image = torch.lerp(_colour(params["background_a"]), _colour(params["background_b"]), mix)

    # Clutter lines behind the shape: the distance from each pixel to a segment.
    # Later lines cover earlier ones; ``top`` says which line (1-based) shows.
    top = torch.zeros(n, size, size, dtype=torch.long)
    for k in range(_LINES):
        x0, y0 = grid.per_image("line_start", k, 0), grid.per_image("line_start", k, 1)
        dx, dy = grid.per_image("line_end", k, 0) - x0, grid.per_image("line_end", k, 1) - y0
        length2 = (dx * dx + dy * dy).clamp_min(1e-6)
        along = grid.linear(dx / length2, dy / length2, -(x0 * dx + y0 * dy) / length2)
        t = along.clamp(0, 1)
        distance2 = grid.distance2(x0, y0) + length2.float() * t * (t - 2 * along)
        top.masked_fill_(distance2 <= grid.per_image("line_width", k).float().square(), k + 1)
    image = _paint(image, top, params["line_colour"])

    # The shape, at twice the resolution for smooth edges, in local coordinates:
    # centred, rotated and scaled to unit radius.
    fine = _Grid(params, 2 * size)
    cos, sin, radius = fine.per_image("angle").cos(), fine.per_image("angle").sin(), fine.per_image("radius")
    cx, cy = fine.per_image("centre", 0), fine.per_image("centre", 1)
    inside = torch.empty(n, 1, 2 * size, 2 * size)
    for kind in range(len(SHAPES_CLASSES)):
        chosen = (labels == kind).nonzero().squeeze(1)
        if chosen.numel() == 0:
            continue
        c, s, r, x, y = cos[chosen], sin[chosen], radius[chosen], cx[chosen], cy[chosen]
        u = fine.linear(c / r, s / r, -(c * x + s * y) / r)
        v = fine.linear(-s / r, c / r, (s * x - c * y) / r)
        inside[chosen] = _shape_mask(kind, u, v).unsqueeze(1).float()
    image = torch.lerp(image, _colour(params["foreground"]), F.avg_pool2d(inside, 2))

    # Small dots over everything.
    top.zero_()
    for k in range(_DOTS):
        distance2 = grid.distance2(grid.per_image("dot_centre", k, 0), grid.per_image("dot_centre", k, 1))
        top.masked_fill_(distance2 <= grid.per_image("dot_radius", k).float().square(), k + 1)
    image = _paint(image, top, params["dot_colour"])

    return (image + noise).clamp_(0, 1)


def _colour(rgb: torch.Tensor) -> torch.Tensor:
    """Per-image colours (n, 3) shaped to broadcast over images (n, 3, h, w)."""
    return rgb.float().view(-1, 3, 1, 1)


def _paint(image: torch.Tensor, top: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """Paint ``colours[:, top - 1]`` (n, k, 3) where ``top`` (n, h, w) is positive."""
    n, _, h, w = image.shape
    palette = torch.cat([torch.zeros(n, 1, 3), colours.float()], 1).transpose(1, 2)  # (n, 3, 1 + k)
    painted = torch.gather(palette, 2, (top.view(n, 1, h * w)).expand(n, 3, h * w)).view(n, 3, h, w)
    return torch.where((top > 0).unsqueeze(1), painted, image)


def _draw_parameters(count: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Every random choice for ``count`` images, drawn in a fixed order."""

    def uniform(*shape: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=generator, dtype=torch.float64)

    radius = uniform(count, low=9.0, high=14.0)
    margin = radius * 0.8  # the shape may touch the border but stays mostly inside
    centre = margin.unsqueeze(1) + uniform(count, 2) * (32 - 2 * margin).unsqueeze(1)
    foreground = uniform(count, 3)
    background_a = uniform(count, 3)
    background_b = uniform(count, 3)
    # Keep the shape visible: where a background colour is close to the shape's
    # colour, replace it by the colour's opposite (brightness flips, hue varies).
    for background in (background_a, background_b):
        close = (background - foreground).abs().mean(1, keepdim=True) < 0.35
        background.copy_(torch.where(close, (1 - foreground + 0.3 * (background - 0.5)).clamp(0, 1), background))
    return {
        "radius": radius,
        "centre": centre,
        "angle": uniform(count, low=-_MAX_TILT, high=_MAX_TILT),
        "foreground": foreground,
        "background_a": background_a,
        "background_b": background_b,
        "gradient_angle": uniform(count, high=2 * math.pi),
        "line_start": uniform(count, _LINES, 2, high=32.0),
        "line_end": uniform(count, _LINES, 2, high=32.0),
        "line_width": uniform(count, _LINES, low=0.3, high=0.6),
        "line_colour": uniform(count, _LINES, 3),
        "dot_centre": uniform(count, _DOTS, 2, high=32.0),
        "dot_radius": uniform(count, _DOTS, low=0.5, high=1.3),
        "dot_colour": uniform(count, _DOTS, 3),
    }


def generate_shapes(count: int, seed: int, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``count`` shape images deterministically from ``seed``.

    Returns ``(images, labels)``: uint8 images of shape (count, 3, size, size) and
    int64 labels of shape (count,), indices into :data:`SHAPES_CLASSES`. Classes are
    balanced (each appears ``count // 10`` or ``count // 10 + 1`` times) in a
    shuffled order. The same ``count``, ``seed`` and ``size`` give bit-identical
    tensors; ``size`` only rescales the drawing (shapes and clutter stay the same).
    """
    if count < 0:
        raise ValueError(f"count must be at least 0, not {count}")
    if size < 4:
        raise ValueError(f"size must be at least 4 pixels, not {size}")
    generator = torch.Generator().manual_seed(seed)
    labels = (torch.arange(count) % len(SHAPES_CLASSES))[torch.randperm(count, generator=generator)]
    params = _draw_parameters(count, generator)
    images = torch.empty(count, 3, size, size, dtype=torch.uint8)
    for start in range(0, count, _CHUNK):
        stop = min(start + _CHUNK, count)
        noise = torch.randn(stop - start, 1, size, size, generator=generator) * _NOISE
        chunk = {name: value[start:stop] for name, value in params.items()}
        drawn = _draw_chunk(chunk, labels[start:stop], size, noise)
        images[start:stop] = drawn.mul_(255).round_().to(torch.uint8)
    return images, labels
