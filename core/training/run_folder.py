"""A run's folder: what it trained, how, what it measured, and its checkpoints.

Layout::

    RUN_DIR/design.json      the design trained (the design file format)
    RUN_DIR/settings.json    the training settings (seed included)
    RUN_DIR/metrics.jsonl    one object per epoch: epoch, train_loss, val_loss, val_accuracy, ...
    RUN_DIR/steps.jsonl      one object per step: step, epoch, loss, accuracy, learning_rate
    RUN_DIR/checkpoint.pt    weights, optimizer, schedule, epoch and RNG state after the last epoch
    RUN_DIR/best.pt          weights with the lowest validation loss so far
    RUN_DIR/run.json         status: running (with the process id), or why and when it ended

A run folder exists from before the data loads, so a run killed at any moment
can be resumed (from epoch 1 when it has no checkpoint yet). Every file is
written atomically; a temporary file a kill left mid-write is removed on resume.
JSON is standard JSON: non-finite numbers are written as null. Reading never runs code from the folder:
checkpoints are loaded with ``torch.load(..., weights_only=True)`` (tensors and
plain data only) and the design is parsed as JSON.
"""

from __future__ import annotations

import io
import json
import math
import os
import socket
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


# The files a run writes, besides the temporary files of atomic writes.
RUN_FILES = ("design.json", "settings.json", "run.json", "metrics.jsonl", "steps.jsonl", "checkpoint.pt",
             "best.pt", "results.json", "examples.npz", "error.log")
WHAT_A_RUN_HOLDS = ("a run folder holds design.json, settings.json and run.json from its start, and "
                    "checkpoint.pt once an epoch has finished")


class RunFolderError(Exception):
    """A run folder that cannot be used, with a message naming the file."""


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, infinity) replaced by None, so that it is standard JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def dumps_json(value: Any, **options: Any) -> str:
    """Standard JSON text of ``value`` (non-finite numbers as null)."""
    return json.dumps(json_safe(value), allow_nan=False, **options)


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

    def holds_run(self) -> bool:
        """True when the folder holds (part of) a run: any of its design, settings, status or checkpoint."""
        return any((self.path / name).is_file() for name in ("design.json", "settings.json", "run.json",
                                                            "checkpoint.pt"))

    def check_new(self, overwrite: bool = False) -> None:
        """Refuse a place a new run cannot go: a file, or a folder holding another run (unless ``overwrite``)."""
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"{self.path} is a file, not a folder: the run folder must be a new or empty "
                                 "folder; give another path")
        if self.holds_run() and not overwrite:
            raise RunFolderError(
                f"{self.path} already holds a run: give a new folder, continue that run with --resume "
                f"{self.path}, or replace it with --overwrite")

    def check_resumable(self) -> None:
        """Refuse a folder that is not a run (missing, or without the run's design and settings)."""
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"{self.path} is a file, not a run folder: --resume takes the folder of a run "
                                 f"({WHAT_A_RUN_HOLDS})")
        if not self.path.is_dir():
            raise RunFolderError(f"{self.path}: no such folder; --resume takes the folder of a run ({WHAT_A_RUN_HOLDS})")
        missing = [name for name in ("design.json", "settings.json") if not (self.path / name).is_file()]
        if missing:
            raise RunFolderError(f"{self.path} is not a run folder (no {' or '.join(missing)}): {WHAT_A_RUN_HOLDS}")

    def create(self, design: Design, settings: TrainingSettings, overwrite: bool = False) -> None:
        """Start a new run here: write the design and settings, clear old metrics.

        Refuses a folder that holds another run unless ``overwrite``, which
        first removes that run's files (and only those).
        """
        self.check_new(overwrite)
        self.path.mkdir(parents=True, exist_ok=True)
        for name in RUN_FILES:
            (self.path / name).unlink(missing_ok=True)
        self.remove_partial_writes()
        save_design(design, self.path / "design.json")
        atomic_write_text(self.path / "settings.json", settings.model_dump_json(indent=2) + "\n")
        self.restart()

    def restart(self) -> None:
        """Begin again from epoch 1 with the stored design and settings: empty metrics, status running."""
        for name in ("metrics.jsonl", "steps.jsonl", "best.pt"):
            (self.path / name).unlink(missing_ok=True)
        for name in ("metrics.jsonl", "steps.jsonl"):
            atomic_write_text(self.path / name, "")
        self.write_status("running")

    def discard(self) -> None:
        """Remove a run that never started: its files, and the folder when nothing else is in it."""
        for name in RUN_FILES:
            (self.path / name).unlink(missing_ok=True)
        self.remove_partial_writes()
        try:
            self.path.rmdir()
        except OSError:
            pass  # the folder holds something else (or never existed): leave it

    def remove_partial_writes(self) -> list[Path]:
        """Delete the temporary files of atomic writes a kill interrupted; returns what was removed."""
        removed = []
        for name in RUN_FILES:
            for temporary in self.path.glob(f".{name}.*.tmp"):
                temporary.unlink(missing_ok=True)
                removed.append(temporary)
        return removed

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
        except ValueError as error:  # not JSON, or a field pydantic refuses: one sentence, not pydantic's dump
            raise RunFolderError(f"{file} cannot be read ({_first_problem(error)}): restore it from a copy, or "
                                 "start a new run from the run's design.json") from None

    def train_on_to(self, epochs: int) -> tuple[TrainingSettings, str]:
        """Set a resumable run to end after ``epochs`` epochs: the new settings (saved) and a note saying so.

        Refuses (RunFolderError) a count the run has reached already, and a
        one-cycle schedule, whose length is part of its checkpointed state.
        The note says how the schedule changes: a cosine schedule's length is
        the run's, so it stretches (the learning rate rises from where it was).
        """
        settings = self.settings()
        if epochs == settings.epochs:
            return settings, ""
        done = max((row.get("epoch", 0) for row in self.read_lines("metrics.jsonl")), default=0)
        if epochs <= done:
            raise RunFolderError(f"{self.path} has finished {done} epochs already: give --epochs more than {done} "
                                 f"to train on, or leave --epochs out to end at its {settings.epochs}")
        if settings.schedule == "one_cycle":
            raise RunFolderError(f"{self.path} uses the one_cycle schedule, whose length ({settings.epochs} epochs) "
                                 "is fixed in its checkpoint: resume without --epochs, or start a new run to "
                                 "train longer")
        new = settings.model_copy(update={"epochs": epochs})
        note = f"training on to {epochs} epochs (the run was set for {settings.epochs})"
        if settings.schedule == "cosine":
            note += ("; the cosine schedule now spans the new length, so the learning rate jumps to where "
                     f"{epochs} epochs' schedule would be")
        atomic_write_text(self.path / "settings.json", new.model_dump_json(indent=2) + "\n")
        return new, note

    def append_lines(self, name: str, rows: list[dict[str, Any]]) -> None:
        """Append JSON lines (metrics.jsonl, steps.jsonl)."""
        if not rows:
            return
        with open(self.path / name, "a", encoding="utf-8") as stream:
            stream.write("".join(dumps_json(row) + "\n" for row in rows))

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
        atomic_write_text(self.path / name, "".join(dumps_json(row) + "\n" for row in rows))

    def write_status(self, status: str, **details: Any) -> None:
        """run.json: running (with this process's id), or the end reason with its message."""
        data = {"status": status, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **details}
        if status == "running":
            # Lets a reader tell a live run from one killed without a word (kill -9, the out-of-memory killer).
            data["pid"], data["host"] = os.getpid(), socket.gethostname()
        atomic_write_text(self.path / "run.json", dumps_json(data, indent=2) + "\n")

    def process_alive(self) -> bool | None:
        """Whether the process run.json says is training is alive: None when unknown (no pid, another machine)."""
        status = self.status()
        pid, host = status.get("pid"), status.get("host")
        if status.get("status") != "running" or not isinstance(pid, int) or host != socket.gethostname():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # alive, another user's
            return True
        return True

    def status(self) -> dict[str, Any]:
        """The contents of run.json (empty if missing)."""
        try:
            status = json.loads((self.path / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):  # missing, torn, not text: unknown (a resume rewrites it)
            return {}
        return status if isinstance(status, dict) else {}


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
    except Exception:  # unpickling refusals, truncated files: torch's text runs to paragraphs, so name the file
        raise RunFolderError(unreadable_checkpoint_message(Path(path))) from None


def unreadable_checkpoint_message(path: Path) -> str:
    """One sentence for a checkpoint that cannot be read, with what to do about it."""
    if path.name == "checkpoint.pt":
        fix = "delete it to restart the run from epoch 1, or restore it"
    elif path.name == "best.pt":
        fix = "delete it (the run's checkpoint.pt keeps its last weights), or restore it"
    else:
        fix = "give a checkpoint ConvStudio wrote (a run's checkpoint.pt or best.pt)"
    return f"{path} cannot be read (truncated or not a checkpoint): {fix}"


def _first_problem(error: ValueError) -> str:
    """The first thing pydantic (or the JSON parser) found wrong, in a few words."""
    from pydantic import ValidationError

    if isinstance(error, ValidationError) and error.errors():
        first = error.errors()[0]
        if first["type"] == "json_invalid":
            return "not valid JSON"
        where = ".".join(map(str, first["loc"]))
        return f"{where}: {first['msg']}" if where else first["msg"]
    return str(error).splitlines()[0]
