"""The designs shipped in the ``presets`` package, found in any kind of install."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from convstudio.core.design import Design, design_from_json

# Menu order: the lecture's network first.
PRESET_ORDER = ("cifar10", "shapes_small", "lenet", "volume3d", "resnet20", "inception_small")
DEFAULT_PRESET = "cifar10"


@dataclass(frozen=True)
class PresetInfo:
    """A preset's file stem and the name it shows."""

    key: str
    name: str
    description: str


def _read(key: str) -> str:
    return resources.files("convstudio.presets").joinpath(f"{key}.json").read_text(encoding="utf-8")


def preset_keys() -> list[str]:
    """Every preset shipped, in menu order (unknown extra files last, alphabetically)."""
    found = sorted(
        entry.name[: -len(".json")]
        for entry in resources.files("convstudio.presets").iterdir()
        if entry.name.endswith(".json")
    )
    return [key for key in PRESET_ORDER if key in found] + [key for key in found if key not in PRESET_ORDER]


def load_preset(key: str) -> Design:
    """The preset design named ``key`` (a file stem such as ``cifar10``)."""
    if key not in preset_keys():
        raise KeyError(f"no preset {key!r}; presets: {', '.join(preset_keys())}")
    return design_from_json(_read(key), f"preset {key}")


def list_presets() -> list[PresetInfo]:
    """Name and description of every preset, in menu order."""
    infos = []
    for key in preset_keys():
        design = load_preset(key)
        infos.append(PresetInfo(key, design.name, design.description))
    return infos
