"""The engine's records as JSON lines, for a program that watches a run in another process.

``convstudio train --record-stream FILE`` appends every record rank 0 yields
(steps with their layer statistics and optimizer state, epochs, the start and
the end) to FILE, one JSON object per line with a ``"type"`` tag. The app's
multi-GPU mode starts torchrun with it and follows the file with a
:class:`RecordStreamReader`, which returns only the lines added since its last
read, so the charts grow incrementally instead of re-reading the run folder.
Non-finite numbers are written as null (standard JSON) and read back as NaN.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from pathlib import Path
from typing import Any

from convstudio.core.training.records import (
    DropoutComparison, EndReason, EpochRecord, LayerStat, OptimizerLayerState, Record, RunEnded, RunStarted,
    StepRecord,
)
from convstudio.core.training.run_folder import dumps_json

_TYPES = {cls.__name__: cls for cls in (RunStarted, StepRecord, EpochRecord, RunEnded)}


def record_to_json(record: Record) -> str:
    """One line of standard JSON for ``record`` (no newline)."""
    data = dataclasses.asdict(record)
    if isinstance(record, RunEnded):
        data["reason"] = record.reason.value
    return dumps_json({"type": type(record).__name__, **data})


def record_from_json(line: str) -> Record:
    """The record a :func:`record_to_json` line holds; ValueError for a line that is not one."""
    data = json.loads(line)
    cls = _TYPES.get(data.pop("type", None)) if isinstance(data, dict) else None
    if cls is None:
        raise ValueError(f"not a training record: {line[:80]!r}")
    if cls is StepRecord:
        if data.get("layer_stats") is not None:
            data["layer_stats"] = tuple(_build(LayerStat, item) for item in data["layer_stats"])
        if data.get("optimizer_state") is not None:
            data["optimizer_state"] = tuple(_build(OptimizerLayerState, item) for item in data["optimizer_state"])
    elif cls is RunStarted:
        data["classes"], data["frozen_layers"] = tuple(data["classes"]), tuple(data.get("frozen_layers", ()))
    elif cls is RunEnded:
        data["reason"] = EndReason(data["reason"])
        if data.get("confusion") is not None:
            data["confusion"] = tuple(tuple(row) for row in data["confusion"])
        if data.get("dropout") is not None:
            data["dropout"] = _build(DropoutComparison, data["dropout"])
    return _build(cls, data)


def _build(cls, data: dict[str, Any]):
    """``cls(**data)``, with the nulls that stood for NaN in float fields turned back into NaN."""
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        if value is None and hints.get(name) is float:
            data[name] = math.nan
        elif isinstance(value, dict) and name == "values":  # OptimizerLayerState.values: floats by name
            data[name] = {key: math.nan if item is None else item for key, item in value.items()}
    return cls(**data)


class RecordStreamWriter:
    """Appends records to a file as JSON lines, flushed at once so that a reader sees them."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._stream = open(self.path, "a", encoding="utf-8")

    def write(self, record: Record) -> None:
        self._stream.write(record_to_json(record) + "\n")
        self._stream.flush()

    def close(self) -> None:
        self._stream.close()


class RecordStreamReader:
    """Reads the records added to a stream file since the last call (a partly written last line waits)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._offset = 0
        self._partial = b""

    def read_new(self) -> list[Record]:
        """Records of the complete lines added since the last call; [] while the file does not exist."""
        try:
            with open(self.path, "rb") as stream:
                stream.seek(self._offset)
                chunk = stream.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        records = []
        for line in lines:
            if line.strip():
                try:
                    records.append(record_from_json(line.decode("utf-8")))
                except (ValueError, TypeError, KeyError):
                    continue  # not a record (a torn or foreign line): the charts skip it
        return records
