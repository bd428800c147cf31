"""Schema versions of the design file and the chain of migrations between them.

Each migration takes the plain data of version N and returns version N + 1, so a
file written by any earlier release loads today. Add a function here, and bump
CURRENT_SCHEMA_VERSION, whenever the format changes in a way old files do not
already satisfy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CURRENT_SCHEMA_VERSION = 2


def _from_unversioned(data: dict[str, Any]) -> dict[str, Any]:
    """Version 0: early hand-written files had no schema_version and called layers 'type'."""
    layers = data.get("layers", [])
    if isinstance(layers, list):  # anything else is left for validation to report
        layers = [
            {("kind" if key == "type" else key): value for key, value in layer.items()}
            if isinstance(layer, dict) else layer
            for layer in layers
        ]
    return {**data, "layers": layers, "schema_version": 1}


def _before_blocks(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had only plain layers; version 2 adds blocks (residual, concat) and global pooling.

    Every version-1 file is a valid version-2 file, so only the number changes.
    """
    return {**data, "schema_version": 2}


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    0: _from_unversioned,
    1: _before_blocks,
}


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring design data of any known schema_version up to CURRENT_SCHEMA_VERSION.

    Raises ValueError for a version newer than this release knows, or not an int.
    """
    version = data.get("schema_version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"schema_version must be a whole number such as {CURRENT_SCHEMA_VERSION}, got {version!r}")
    if version > CURRENT_SCHEMA_VERSION:
        raise ValueError(
            f"written by a newer ConvStudio (schema_version {version}; this release reads up to "
            f"{CURRENT_SCHEMA_VERSION}). Update ConvStudio to open it."
        )
    while version < CURRENT_SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version = data["schema_version"]
    return data
