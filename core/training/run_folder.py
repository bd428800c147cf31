"""A run's folder: what it trained, how, what it measured, and its checkpoints.

Layout::

    RUN_DIR/design.json      the design trained (the design file format)
    RUN_DIR/settings.json    the training settings (seed included)
    RUN_DIR/metrics.jsonl    one object per epoch: epoch, train_loss, val_loss, val_accuracy, ...
    RUN_DIR/steps.jsonl      one object per step: step, epoch, loss, accuracy, learning_rate
    RUN_DIR/checkpoint.pt    weights, optimizer, schedule, epoch and RNG state after the last epoch
    RUN_DIR/best.pt          weights with the lowest validation loss so far
    RUN_DIR/run.json         status: running, or why and when it ended

Every file is written atomically. Reading never runs code from the folder:
checkpoints are loaded with ``torch.load(..., weights_only=True)`` (tensors and
plain data only) and the design is parsed as JSON.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from convstudio.core.atomic import atomic_write_bytes, atomic_write_text
from convstudio.core.design import Design, load_design, save_design

if TYPE_CHECKING:
    import torch

    from convstudio.core.training.settings import TrainingSettings

# Which of a run's weights: "best" (lowest validation loss, best.pt) or "last" (after the last epoch, checkpoint.pt).
WeightsChoice = Literal["best", "last"]
WEIGHTS_CHOICES: tuple[str, ...] = get_args(WeightsChoice)


class RunFolderError(Exception):
    """A run folder that cannot be used, with a message naming the file."""


@dataclass
class RunFolder:
    """Reads and writes one run's files."""

    path: Path

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def best_path(self) -> Path:
        return self.path / "best.pt"

    def weights_path(self, which: WeightsChoice | None = None) -> Path:
        """The file that holds the run's trained weights.

        ``"best"``: best.pt, the lowest validation loss; ``"last"``: checkpoint.pt,
        after the last epoch; None: best.pt when the run has one, else
        checkpoint.pt. Raises RunFolderError when there is no such file.
        """
        if which is not None:
            path = self.best_path if which == "best" else self.checkpoint_path
            if not path.is_file():
                raise RunFolderError(f"{self.path}: no {path.name}, so no {which} weights; "
                                     "has the run finished an epoch?")
            return path
        for path in (self.best_path, self.checkpoint_path):
            if path.is_file():
                return path
        raise RunFolderError(f"{self.path}: no trained weights (neither best.pt nor checkpoint.pt); "
                             "the run has not finished an epoch yet")

    def create(self, design: Design, settings: TrainingSettings) -> None:
        """Start a new run here: write the design and settings, clear old metrics."""
        self.path.mkdir(parents=True, exist_ok=True)
        save_design(design, self.path / "design.json")
        atomic_write_text(self.path / "settings.json", settings.model_dump_json(indent=2) + "\n")
        for name in ("metrics.jsonl", "steps.jsonl"):
            (self.path / name).write_text("", encoding="utf-8")
        self.write_status("running")

    def design(self) -> Design:
        """The design this run trained."""
        return load_design(self.path / "design.json")

    def settings(self) -> TrainingSettings:
        """The settings this run used."""
        from convstudio.core.training.settings import TrainingSettings  # here: its model imports torch

        file = self.path / "settings.json"
        try:
            return TrainingSettings.model_validate_json(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunFolderError(f"{file}: missing; is {self.path} a ConvStudio run folder?") from None
        except ValueError as error:
            raise RunFolderError(f"{file}: not valid training settings: {error}") from None

    def append_lines(self, name: str, rows: list[dict[str, Any]]) -> None:
        """Append JSON lines (metrics.jsonl, steps.jsonl)."""
        if not rows:
            return
        with open(self.path / name, "a", encoding="utf-8") as stream:
            stream.write("".join(json.dumps(row) + "\n" for row in rows))

    def read_lines(self, name: str) -> list[dict[str, Any]]:
        """Every JSON line of metrics.jsonl or steps.jsonl (a torn last line is skipped)."""
        file = self.path / name
        if not file.exists():
            return []
        rows = []
        for line in file.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return rows

    def truncate_lines(self, name: str, keep) -> None:
        """Keep only the lines for which ``keep(row)`` is true (used when resuming)."""
        rows = [row for row in self.read_lines(name) if keep(row)]
        atomic_write_text(self.path / name, "".join(json.dumps(row) + "\n" for row in rows))

    def write_status(self, status: str, **details: Any) -> None:
        """run.json: running, or the end reason with its message."""
        data = {"status": status, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **details}
        atomic_write_text(self.path / "run.json", json.dumps(data, indent=2) + "\n")

    def status(self) -> dict[str, Any]:
        """The contents of run.json (empty if missing)."""
        try:
            return json.loads((self.path / "run.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write tensors and plain data atomically."""
    import torch  # here, so that listing runs (run_index) needs no torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint without running any code from it (weights_only)."""
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise RunFolderError(f"{path}: no checkpoint; the run has not finished an epoch yet") from None
    except Exception as error:  # unpickling refusals, truncated files
        raise RunFolderError(f"{path}: not a readable checkpoint ({error})") from None
