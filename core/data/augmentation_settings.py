"""What augmentation to apply during training, and how strongly (no torch here).

The settings live apart from :mod:`core.data.augment`, which applies them to
batches with torch, so that reading or editing a design's training settings (the
app's settings form, ``convstudio check``) never loads torch.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from convstudio.core.editor_hints import EditorHint


class AugmentationSettings(BaseModel):
    """Which augmentations to apply during training, and how strongly. All off by default.

    The hints name no form section: the field that holds these settings gives it.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)  # NaN passes ranges

    flip: Annotated[bool, EditorHint("flip left-right")] = Field(
        default=False, description="Mirror each image left-right with probability 0.5.")
    rotate_degrees: Annotated[float, EditorHint("rotate ± degrees")] = Field(
        default=0.0,
        ge=0,
        le=180,
        description="Rotate each image by an angle drawn uniformly from [-degrees, degrees]; 0 is off.",
    )
    crop_scale: Annotated[float, EditorHint("crop area ≥")] = Field(
        default=1.0,
        ge=0.3,
        le=1.0,
        description=(
            "Random resized crop: keep a random part covering this share of the image area or more "
            "(aspect 3:4 to 4:3) and stretch it back to full size; 1 is off."
        ),
    )
    crop_padding: Annotated[int, EditorHint("shift ± pixels")] = Field(
        default=0,
        ge=0,
        le=16,
        description="Shift each image by up to this many pixels in x and y, mirroring at the edges; 0 is off.",
    )
    brightness: Annotated[float, EditorHint("brightness")] = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Multiply each image by a factor drawn uniformly from [1 - b, 1 + b]; 0 is off.",
    )
    contrast: Annotated[float, EditorHint("contrast")] = Field(
        default=0.0,
        ge=0,
        le=1,
        description=("Scale each image's distance from its mean grey by a factor drawn from [1 - c, 1 + c]; 0 is off."),
    )

    @property
    def enabled(self) -> bool:
        """Whether any augmentation is on."""
        return (
            self.flip
            or self.rotate_degrees > 0
            or self.crop_scale < 1
            or self.crop_padding > 0
            or self.brightness > 0
            or self.contrast > 0
        )
