"""The design file: an input specification and a stack of layers, as JSON.

``Design`` does all JSON work through pydantic. Reading goes through
:func:`load_design`, which migrates older ``schema_version`` files forward and
turns every failure into a :class:`DesignFileError` whose message names the
file, the layer (1-based, with its kind) and the field, and says how to fix it.
Saving is atomic: a crash mid-write never leaves a half-written design.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from convstudio.core.atomic import atomic_write_text
from convstudio.core.layers import Layer, inner_stacks, layer_to_data
from convstudio.core.migrations import CURRENT_SCHEMA_VERSION, migrate
from convstudio.core.validation_messages import describe_validation_error


class DesignFileError(Exception):
    """A design file that cannot be used, with a message meant for a person."""


class InputSpec(BaseModel):
    """The image the network receives: channels x height x width, plus depth for volumes."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True)

    channels: int = Field(ge=1, le=4096, description="Colour or feature channels C^0 (3 for RGB, 1 for grey).")
    height: int = Field(ge=1, le=16384, description="Image height d_y in pixels.")
    width: int = Field(ge=1, le=16384, description="Image width d_x in pixels.")
    depth: int | None = Field(
        default=None, ge=1, le=16384, description="Depth of a volume (3-D convolution, eq. 3-4); empty for images."
    )

    @property
    def shape(self) -> tuple[int, ...]:
        """The per-sample tensor shape PyTorch sees: (C, H, W) or (C, D, H, W)."""
        if self.depth is None:
            return (self.channels, self.height, self.width)
        return (self.channels, self.depth, self.height, self.width)


def _check_names_unique(layers: list, where: str) -> None:
    """Names are module names: unique within each stack (a block's stacks are scopes of their own)."""
    seen: dict[str, int] = {}
    for number, layer in enumerate(layers, start=1):
        if layer.name is not None:
            if layer.name in seen:
                raise ValueError(
                    f"{where}layer {number} ({layer.kind}) reuses the name {layer.name!r} of layer "
                    f"{seen[layer.name]}: give each layer its own name or leave name out"
                )
            seen[layer.name] = number
        for part, stack in inner_stacks(layer):
            label = f"branch {int(part.split('.')[1]) + 1}" if part.startswith("branches.") else part
            _check_names_unique(stack, f"{where}layer {number} ({layer.kind}) > {label} > ")


class Design(BaseModel):
    """A whole network design: what ``*.json`` design files hold."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True)

    schema_version: int = Field(default=CURRENT_SCHEMA_VERSION, ge=1, le=CURRENT_SCHEMA_VERSION)
    name: str = Field(default="Untitled design", description="Shown in the title bar and in reports.")
    description: str = Field(default="", description="Free notes about the design.")
    input: InputSpec
    layers: list[Layer] = Field(default_factory=list)
    training: dict[str, Any] | None = Field(
        default=None, description="Training settings saved with the design (read by the training engine)."
    )

    @model_validator(mode="after")
    def _layer_names_unique(self):
        _check_names_unique(self.layers, "")
        return self

    def to_json(self) -> str:
        """The design as indented JSON, leaving out layer fields that hold their defaults."""
        data: dict[str, Any] = {
            "schema_version": self.schema_version,
            "name": self.name,
            "input": self.input.model_dump(mode="json", exclude_none=True),
            "layers": [layer_to_data(layer) for layer in self.layers],
        }
        if self.description:
            data["description"] = self.description
        if self.training is not None:
            data["training"] = self.training
        return json.dumps(data, indent=2) + "\n"


def design_from_dict(data: Any, source: str = "design") -> Design:
    """Validate plain data (as parsed from JSON) into a Design, migrating old versions.

    Raises DesignFileError with a message naming ``source``, the layer and the field.
    """
    if not isinstance(data, dict):
        raise DesignFileError(
            f"{source}: a design must be a JSON object with 'input' and 'layers', "
            f"not a {type(data).__name__}"
        )
    has_layers = "layers" in data
    try:
        data = migrate(data)
    except ValueError as error:
        raise DesignFileError(f"{source}: {error}") from None
    try:
        design = Design.model_validate(data)
    except ValidationError as error:
        raise DesignFileError(describe_validation_error(error, data, source)) from None
    if not has_layers:  # an empty design says so with "layers": []; a missing key is a broken file
        raise DesignFileError(f"{source}: no 'layers' field: a design lists its layers, e.g. \"layers\": [] "
                              "for none; add it")
    return design


def design_from_json(text: str, source: str = "design") -> Design:
    """Parse and validate a design from JSON text."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DesignFileError(
            f"{source}: not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}. "
            "Is the file complete? Designs are saved by ConvStudio as JSON."
        ) from None
    return design_from_dict(data, source)


def load_design(path: str | Path) -> Design:
    """Read a design file, raising DesignFileError with a readable message on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DesignFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DesignFileError(f"{path}: is a folder, not a design file") from None
    except UnicodeDecodeError:
        raise DesignFileError(f"{path}: not a text file (design files are UTF-8 JSON)") from None
    except OSError as error:
        raise DesignFileError(f"{path}: cannot be read ({error.strerror})") from None
    return design_from_json(text, str(path))


def save_design(design: Design, path: str | Path) -> None:
    """Write a design atomically: the old file stays intact until the new one is complete."""
    atomic_write_text(Path(path), design.to_json())
