"""A sweep's plan: the trials' values over settings and layer fields, checked before anything trains.

:func:`plan_sweep` draws a grid or random values of the variations
(:mod:`core.experiments.variations`) and runs every trial's design through the
shape engine and the classifier check; :func:`fit_to_data` checks them against
the loaded dataset. The plan is saved once, as ``sweep.json`` in the sweep
folder, and read back on resume (:func:`save_plan`, :func:`load_plan`).
Running the trials is :mod:`core.experiments.sweeps`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from convstudio.core.atomic import atomic_write_text
from convstudio.core.design import Design
from convstudio.core.experiments.variations import (
    DATA_FIELDS, Variation, VariationError, check_layer_field, combinations, set_in_data, set_setting,
)
from convstudio.core.training.classifier_output import classifier_problem

Objective = Literal["val_accuracy", "val_loss"]
OBJECTIVES: dict[str, str] = {"val_accuracy": "best validation accuracy", "val_loss": "best validation loss"}
SWEEP_FILE = "sweep.json"
SWEEP_VERSION = 1


class SweepError(ValueError):
    """A sweep that cannot start (bad variations, an unreadable sweep folder), said in one sentence with the fix."""


@dataclass(frozen=True)
class TrialPlan:
    """One planned trial: its values, and why it cannot train (None when it can)."""

    index: int  # 0-based; the folder is trial-<index + 1>
    values: dict[str, Any]
    problem: str | None = None

    @property
    def name(self) -> str:
        return f"trial-{self.index + 1:03d}"

    def to_json(self) -> dict:
        return {"index": self.index, "values": self.values, "problem": self.problem}


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep trains: the design and base settings, the variations, and every trial's values."""

    design: Design
    settings: Any  # TrainingSettings (kept loose here: reading a plan must not need torch)
    variations: tuple[Variation, ...]
    trials: tuple[TrialPlan, ...]
    grid: bool
    seed: int
    objective: Objective = "val_accuracy"

    @property
    def possible(self) -> list[TrialPlan]:
        return [trial for trial in self.trials if trial.problem is None]

    @property
    def impossible(self) -> list[TrialPlan]:
        return [trial for trial in self.trials if trial.problem is not None]

    def trial_design(self, trial: TrialPlan) -> Design:
        return apply_to_design(self.design, trial.values)

    def trial_settings(self, trial: TrialPlan):
        return apply_to_settings(self.settings, trial.values)

    def to_json(self) -> dict:
        return {"version": SWEEP_VERSION, "design": json.loads(self.design.to_json()),
                "settings": self.settings.model_dump(mode="json"),
                "variations": [v.to_json() for v in self.variations], "grid": self.grid, "seed": self.seed,
                "objective": self.objective, "trials": [t.to_json() for t in self.trials]}


# ----- planning -------------------------------------------------------------------------------


def apply_to_settings(settings, values: dict[str, Any]):
    """``settings`` with the values of settings fields set (layer fields are left to :func:`apply_to_design`)."""
    from convstudio.core.training.settings import TrainingSettings

    data = settings.model_dump(mode="python")
    for name, value in values.items():
        if not name.startswith("layers."):
            set_setting(data, name, value)
    return TrainingSettings.model_validate(data)


def apply_to_design(design: Design, values: dict[str, Any]) -> Design:
    """``design`` with the values of layer fields (``layers.N...``) set; pydantic's error when one is not valid."""
    layer_values = {name: value for name, value in values.items() if name.startswith("layers.")}
    if not layer_values:
        return design
    data = json.loads(design.to_json())
    for name, value in layer_values.items():
        set_in_data(data, name, value)
    return Design.model_validate(data)


def check_variations(design: Design, settings, variations: Sequence[Variation]) -> None:
    """Raise SweepError for a variation that names nothing, or a data setting a shared dataset cannot vary."""
    fields = type(settings).model_fields
    design_data = json.loads(design.to_json())
    for variation in variations:
        name = variation.name
        if variation.is_layer_field:
            try:
                check_layer_field(design_data, name)
            except VariationError as error:
                raise SweepError(f"--vary: {error}") from None
            continue
        top = name.split(".")[0]
        if top not in fields:
            raise SweepError(f"--vary: {name} is neither a training setting nor a layer field (layers.N.FIELD); "
                             f"settings are {', '.join(sorted(fields))}")
        if top in DATA_FIELDS:
            raise SweepError(f"--vary: {name} decides which images a run sees, and a sweep's trials share one "
                             "dataset; run one sweep per dataset instead")


def _problem(design: Design, settings, values: dict[str, Any]) -> str | None:
    """Why a trial with ``values`` cannot train (an invalid value, or the shape engine's reason), or None."""
    from pydantic import ValidationError

    from convstudio.core.shapes import infer_shapes

    try:
        apply_to_settings(settings, values)
        trial_design = apply_to_design(design, values)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}"
    except VariationError as error:
        return str(error)
    report = infer_shapes(trial_design)
    if not report.valid:
        return report.first_error()
    return classifier_problem(report)


def _data_problem(design: Design, image_shape: tuple[int, ...], num_classes: int, dataset: str) -> str | None:
    """Why ``design`` (shapes already checked) cannot train on the dataset: its input size or class count."""
    from convstudio.core.shape_records import format_shape
    from convstudio.core.shapes import infer_shapes

    if tuple(design.input.shape) != tuple(image_shape):
        return (f"the design's input is {format_shape(design.input.shape)} but {dataset} images are "
                f"{format_shape(image_shape)}")
    return classifier_problem(infer_shapes(design), num_classes, dataset)


def fit_to_data(plan: SweepPlan, image_shape: tuple[int, ...], num_classes: int, dataset: str) -> SweepPlan:
    """``plan`` with the trials that cannot train on the dataset (input size, class count) marked impossible.

    The shape engine cannot know the dataset's class count, so varying the
    last linear layer's out_features is caught here, before anything trains.
    """
    trials = tuple(trial if trial.problem is not None else
                   replace(trial, problem=_data_problem(plan.trial_design(trial), image_shape, num_classes, dataset))
                   for trial in plan.trials)
    return replace(plan, trials=trials)


def same_sweep(saved: SweepPlan, plan: SweepPlan) -> bool:
    """Whether two plans are one sweep (the dataset check may since have marked trials impossible)."""
    def without_problems(data: dict) -> dict:
        return {**data, "trials": [{**t, "problem": None} for t in data["trials"]]}
    return without_problems(saved.to_json()) == without_problems(plan.to_json())


def plan_sweep(design: Design, settings, variations: Sequence[Variation], *, grid: bool = False, trials: int = 8,
               points: int = 3, seed: int = 0, objective: Objective = "val_accuracy") -> SweepPlan:
    """Every trial's values (a grid, or ``trials`` seeded random draws), each checked by the shape engine."""
    if objective not in OBJECTIVES:
        raise SweepError(f"objective {objective!r}: choose val_accuracy or val_loss")
    if not grid and trials < 1:
        raise SweepError(f"--trials {trials}: a random sweep needs at least one trial")
    if grid and points < 2:
        raise SweepError(f"--points {points}: a grid needs at least 2 values per range")
    check_variations(design, settings, variations)
    chosen = combinations(variations, grid, trials, points, seed)
    planned = tuple(TrialPlan(index, values, _problem(design, settings, values)) for index, values in enumerate(chosen))
    return SweepPlan(design, settings, tuple(variations), planned, grid, seed, objective)


# ----- the sweep folder --------------------------------------------------------------------------


def save_plan(plan: SweepPlan, folder: str | Path) -> None:
    """Write ``sweep.json`` (atomically) into ``folder``, creating it."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path / SWEEP_FILE, json.dumps(plan.to_json(), indent=2) + "\n")


def load_plan(folder: str | Path) -> SweepPlan:
    """The plan kept in a sweep folder; SweepError naming the file when it cannot be read."""
    from pydantic import ValidationError

    from convstudio.core.training.settings import TrainingSettings

    file = Path(folder) / SWEEP_FILE
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        if data.get("version") != SWEEP_VERSION:
            raise SweepError(f"{file}: sweep version {data.get('version')} is not one this ConvStudio reads")
        return SweepPlan(Design.model_validate(data["design"]), TrainingSettings.model_validate(data["settings"]),
                         tuple(Variation.from_json(v) for v in data["variations"]),
                         tuple(TrialPlan(t["index"], t["values"], t.get("problem")) for t in data["trials"]),
                         bool(data["grid"]), int(data["seed"]), data.get("objective", "val_accuracy"))
    except FileNotFoundError:
        raise SweepError(f"{file}: missing; is {folder} a sweep folder (made by convstudio sweep --out)?") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValidationError) as error:
        raise SweepError(f"{file}: not a readable sweep ({type(error).__name__}: {error})") from None

