"""A design's training settings: read from its ``training`` section, and saved back into it.

A design file may carry the settings it was last trained with (``Design.training``,
a plain dict: what differs from the defaults, and the dataset). The command line
(``convstudio train``, ``ensemble``, ``remedies``) and the app both read them here,
so a design trains the same way from either; they differ only in the dataset a
design that names none gets (see :func:`default_dataset`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from convstudio.core.design import Design
from convstudio.core.training.settings import TrainingSettings

BUILT_IN_DATASET = "shapes"


def default_dataset(design: Design, prefer_downloaded: bool) -> str:
    """The dataset for a design whose settings name none.

    The command line always takes the built-in ``shapes`` (``prefer_downloaded``
    false): a script then trains the same data on every machine, whatever happens
    to be downloaded. The app (``prefer_downloaded`` true) takes CIFAR10 when it
    is on disk and the design takes 3x32x32 images, what such a design is made for.
    """
    if prefer_downloaded and tuple(design.input.shape) == (3, 32, 32):
        from convstudio.core.data.on_disk import dataset_on_disk

        if dataset_on_disk("cifar10"):
            return "cifar10"
    return BUILT_IN_DATASET


def _merged(saved: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``saved`` with ``overrides`` on top; nested sections (augmentation) merge field by field."""
    data = dict(saved)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(data.get(key), Mapping):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def saved_settings(design: Design, overrides: Mapping[str, Any] | None = None,
                   prefer_downloaded: bool = False) -> TrainingSettings:
    """The design's saved settings, ``overrides`` (settings fields) on top, defaults for the rest.

    Raises pydantic's ValidationError when the result is not valid: the command
    line says so and stops. ``prefer_downloaded``: see :func:`default_dataset`.
    """
    data = _merged(design.training or {}, overrides or {})
    if "dataset" not in data:
        data["dataset"] = default_dataset(design, prefer_downloaded)
    return TrainingSettings.model_validate(data)


def settings_of(design: Design) -> tuple[TrainingSettings, str]:
    """What the app shows and trains for ``design``, and a problem to show ("" when none).

    Never raises: saved settings that are not valid give the defaults (with
    the saved dataset) and a sentence saying what was wrong.
    """
    try:
        return saved_settings(design, prefer_downloaded=True), ""
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        dataset = (design.training or {}).get("dataset")
        fallback = TrainingSettings(dataset=dataset if isinstance(dataset, str) else default_dataset(design, True))
        return fallback, (f"The design's saved training settings were not usable ({where}: {first['msg']}); "
                          "showing defaults.")


def with_training(design: Design, settings: TrainingSettings) -> Design:
    """``design`` with ``settings`` saved in it (what differs from the defaults, and the dataset)."""
    data = settings.model_dump(mode="json", exclude_defaults=True)
    data["dataset"] = settings.dataset
    return design.model_copy(update={"training": data})
