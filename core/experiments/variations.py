"""What a sweep varies: settings and layer fields, their values or ranges, and how they apply.

The ``--vary`` syntax (the app's Sweep dialog writes the same text)::

    NAME=V1|V2|V3          these values (numbers, words such as sgd, true/false)
    NAME=LOW:HIGH          a range, uniform; whole numbers when both ends are
    NAME=LOW:HIGH:log      a range, log-uniform (for rates and penalties)

Several variations are separated by commas: ``lr=1e-4:1e-1:log,batch_size=32|64|128``.
Random sweeps draw each trial's value from each range or list; grids take
every combination, with ``points`` values spread over each range (evenly, or
evenly on a log scale).

NAME is a training setting (``learning_rate``, ``batch_size``, ``optimizer``,
``beta1``, ``momentum``, ``l2_penalty``, ``schedule``, ``epochs``, ``seed``,
``augmentation.rotate_degrees``, ...; the command line's short names ``lr``,
``l2`` and ``limit`` work too) or a layer field ``layers.N.FIELD`` with N
counted from 1 as ``convstudio check`` numbers layers (``layers.5.p``, a
dropout's p). Layers inside blocks are reached through the block's parts, every
number again from 1: ``layers.3.body.2.out_channels``, ``layers.4.branches.1.1.kernel_size``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# The command line's short option names for settings fields (see core.cli.options).
ALIASES = {"lr": "learning_rate", "l2": "l2_penalty", "limit": "data_limit", "batch": "batch_size"}
# Settings that decide which images a run sees: a sweep shares one decoded dataset, so these stay fixed.
DATA_FIELDS = ("dataset", "val_fraction", "data_limit", "skip_unreadable")


class VariationError(ValueError):
    """A ``--vary`` text or a variation that cannot be used, said in one sentence with the fix."""


@dataclass(frozen=True)
class Variation:
    """One setting or layer field a sweep varies: a list of values, or a range."""

    name: str  # as the user wrote it, resolved: "learning_rate", "layers.5.p"
    values: tuple[Any, ...] = ()  # the list, when given as V1|V2|...
    low: float | None = None  # the range, when given as LOW:HIGH[:log]
    high: float | None = None
    log: bool = False
    integer: bool = False  # a range of whole numbers

    @property
    def is_range(self) -> bool:
        return self.low is not None

    @property
    def is_layer_field(self) -> bool:
        return self.name.startswith("layers.")

    def text(self) -> str:
        """The variation in ``--vary`` syntax."""
        if self.is_range:
            ends = f"{_number_text(self.low)}:{_number_text(self.high)}"
            return f"{self.name}={ends}{':log' if self.log else ''}"
        return f"{self.name}={'|'.join(_value_text(v) for v in self.values)}"

    def grid_values(self, points: int) -> tuple[Any, ...]:
        """The values a grid takes: the list, or ``points`` values spread over the range."""
        if not self.is_range:
            return self.values
        spread = np.geomspace(self.low, self.high, points) if self.log else np.linspace(self.low, self.high, points)
        values = [int(round(v)) for v in spread] if self.integer else [float(_round(v)) for v in spread]
        return tuple(dict.fromkeys(values))  # a narrow integer range repeats values

    def draw(self, rng: np.random.Generator) -> Any:
        """One random value: from the list, uniform over the range, or log-uniform."""
        if not self.is_range:
            return self.values[int(rng.integers(len(self.values)))]
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        return int(round(value)) if self.integer else float(_round(value))

    def to_json(self) -> dict:
        return {"name": self.name, "values": list(self.values), "low": self.low, "high": self.high,
                "log": self.log, "integer": self.integer}

    @classmethod
    def from_json(cls, data: Mapping) -> Variation:
        return cls(data["name"], tuple(data.get("values") or ()), data.get("low"), data.get("high"),
                   bool(data.get("log")), bool(data.get("integer")))


def _round(value: float) -> float:
    """Four significant digits: a drawn rate of 0.0031622776 reads as 0.003162 in tables and folder names."""
    return float(f"{value:.4g}")


def _number_text(value: float) -> str:
    return f"{value:g}"


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse_value(text: str) -> Any:
    """``64`` -> 64, ``1e-3`` -> 0.001, ``true`` -> True, ``none`` -> None, anything else as written."""
    word = text.strip()
    lowered = word.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(word)
        except ValueError:
            pass
    return word


def _is_whole(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def parse_variations(text: str | Sequence[str]) -> list[Variation]:
    """``--vary`` text (or several) -> variations; VariationError naming the part that cannot be read."""
    parts = [text] if isinstance(text, str) else list(text)
    variations: list[Variation] = []
    for part in parts:
        for piece in filter(None, (p.strip() for p in part.split(","))):
            variations.append(_parse_one(piece))
    if not variations:
        raise VariationError("--vary: nothing to vary; give NAME=V1|V2 or NAME=LOW:HIGH[:log], e.g. lr=1e-4:1e-1:log")
    names = [v.name for v in variations]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise VariationError(f"--vary: {', '.join(repeated)} is given twice; vary each setting once")
    return variations


def _parse_one(piece: str) -> Variation:
    name, equals, spec = piece.partition("=")
    name, spec = name.strip(), spec.strip()
    if not equals or not name or not spec:
        raise VariationError(f"--vary: {piece!r} is not NAME=V1|V2 or NAME=LOW:HIGH[:log] (e.g. lr=1e-4:1e-1:log)")
    name = ALIASES.get(name, name)
    if "|" in spec or ":" not in spec:
        values = tuple(parse_value(v) for v in spec.split("|") if v.strip())
        if not values:
            raise VariationError(f"--vary: {name} lists no values")
        return Variation(name, values)
    pieces = [p.strip() for p in spec.split(":")]
    log = len(pieces) == 3 and pieces[2].lower() == "log"
    if len(pieces) not in (2, 3) or (len(pieces) == 3 and not log):
        raise VariationError(f"--vary: {name}={spec} is not a range LOW:HIGH or LOW:HIGH:log")
    try:
        low, high = float(pieces[0]), float(pieces[1])
    except ValueError:
        raise VariationError(f"--vary: {name}={spec}: the ends of a range must be numbers") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise VariationError(f"--vary: {name}={spec}: the range needs LOW below HIGH")
    if log and low <= 0:
        raise VariationError(f"--vary: {name}={spec}: a log range needs a positive LOW; try {name}=1e-5:{pieces[1]}:log")
    integer = _is_whole(pieces[0]) and _is_whole(pieces[1])
    return Variation(name, (), low, high, log, integer)


def combinations(variations: Sequence[Variation], grid: bool, trials: int, points: int,
                 seed: int) -> list[dict[str, Any]]:
    """Each trial's values: every grid combination, or ``trials`` random draws (seeded, so a plan repeats)."""
    if grid:
        axes = [variation.grid_values(points) for variation in variations]
        return [dict(zip((v.name for v in variations), chosen)) for chosen in itertools.product(*axes)]
    rng = np.random.default_rng(seed)
    return [{variation.name: variation.draw(rng) for variation in variations} for _ in range(trials)]


# ----- applying values -------------------------------------------------------------------------


def split_layer_path(name: str) -> list[str | int]:
    """``layers.5.body.2.p`` -> ["layers", 4, "body", 1, "p"] (numbers from 1 in the text, 0-based here)."""
    keys: list[str | int] = []
    for token in name.split("."):
        if token.isdigit():
            if int(token) < 1:
                raise VariationError(f"{name}: layers are numbered from 1, as convstudio check numbers them")
            keys.append(int(token) - 1)
        else:
            keys.append(token)
    return keys


def _layer_at(data: dict, name: str) -> tuple[dict, str]:
    """(the layer's data, the field name) that ``name`` addresses in design-file data; VariationError if none."""
    keys = split_layer_path(name)
    if len(keys) < 3 or keys[0] != "layers" or not isinstance(keys[1], int) or not isinstance(keys[-1], str):
        raise VariationError(f"{name}: a layer field is layers.N.FIELD, e.g. layers.5.p (N from 1)")
    node: Any = data
    walked: list[str] = []
    for key in keys[:-1]:
        where = ".".join(walked) or "the design"
        if isinstance(key, int):
            if not isinstance(node, list) or key >= len(node):
                count = len(node) if isinstance(node, list) else 0
                raise VariationError(f"{name}: {where} has {count} entries, not {key + 1}")
        elif not isinstance(node, dict) or key not in node:
            raise VariationError(f"{name}: {where} has no layers under {key!r}")
        node = node[key]
        walked.append(str(key + 1) if isinstance(key, int) else key)
    if not isinstance(node, dict) or "kind" not in node:
        raise VariationError(f"{name}: {'.'.join(walked)} is not a layer")
    return node, keys[-1]


def set_in_data(data: dict, name: str, value: Any) -> None:
    """Set the layer field that ``name`` addresses in design-file data (a dict); VariationError if there is none."""
    layer, field = _layer_at(data, name)
    layer[field] = value


def check_layer_field(design_data: dict, name: str) -> None:
    """Raise VariationError unless ``name`` addresses a field that its layer's kind has (before anything trains)."""
    layer, field = _layer_at(design_data, name)
    model = _layer_model(layer["kind"])
    fields = sorted(f for f in (model.model_fields if model else {}) if f not in ("kind", "name"))
    if field not in fields:
        raise VariationError(f"{name}: a {layer['kind']} layer has no field {field!r}; "
                             f"its fields are {', '.join(fields)}")


def _layer_model(kind: str):
    from convstudio.core import layers

    for value in vars(layers).values():
        if isinstance(value, type) and issubclass(value, layers.LayerBase):
            field = value.model_fields.get("kind")
            if field is not None and field.default == kind:
                return value
    return None


def set_setting(data: dict, name: str, value: Any) -> None:
    """Set a settings field (``augmentation.rotate_degrees`` reaches into a section) in settings data."""
    *sections, field = name.split(".")
    node = data
    for section in sections:
        node = node.setdefault(section, {})
    node[field] = value
