"""What an export starts from: a design file (untrained) or a run folder (its trained weights).

``convstudio export`` calls :func:`load_export_source`, and the GUI's File >
Export can call it too; every failure is an ExportError whose message names
the file: an unreadable design, impossible shapes, a run without weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from convstudio.core.builder import DesignNet, DesignShapeError, build_model
from convstudio.core.design import Design, DesignFileError, load_design
from convstudio.core.export.common import ExportError

if TYPE_CHECKING:
    from convstudio.core.training.run_folder import RunFolder, WeightsChoice


@dataclass(frozen=True)
class ExportSource:
    """A design and its model, ready to export; ``weights_file`` is None for an untrained model."""

    design: Design
    model: DesignNet  # on the CPU, in eval mode
    weights_file: Path | None
    epoch: int | None = None  # the epoch the weights come from, when the checkpoint says

    @property
    def trained(self) -> bool:
        """True when the weights come from a run's checkpoint."""
        return self.weights_file is not None

    def describe(self) -> str:
        """Where the weights come from, in words."""
        if self.weights_file is None:
            return f"{self.design.name!r} is untrained: random initial weights (export from a run folder for trained ones)"
        after = f" after epoch {self.epoch}" if self.epoch is not None else ""
        return f"{self.design.name!r} with the weights of {self.weights_file}{after}"


def read_design(path: str | Path) -> tuple[Design, RunFolder | None]:
    """The design in a design file, or the one a run folder trained (with the folder)."""
    path = Path(path)
    try:
        if path.is_dir():
            if not (path / "design.json").is_file():
                raise ExportError(f"{path}: a folder without design.json is not a ConvStudio run folder")
            # Imported here so that design files export without loading the training package.
            from convstudio.core.training.run_folder import RunFolder

            folder = RunFolder(path)
            return folder.design(), folder
        return load_design(path), None
    except DesignFileError as error:
        raise ExportError(str(error)) from None


def _weights_file(folder: RunFolder, choice: WeightsChoice | None) -> Path:
    """best.pt or checkpoint.pt (see RunFolder.weights_path), with the CLI's hint when the chosen one is missing."""
    from convstudio.core.training.run_folder import RunFolderError

    try:
        return folder.weights_path(choice)
    except RunFolderError as error:
        hint = f" (try --weights {'last' if choice == 'best' else 'best'})" if choice else ""
        raise ExportError(f"{error}{hint}") from None


def load_export_source(path: str | Path, weights: WeightsChoice | None = None, seed: int = 0) -> ExportSource:
    """Read a design file or a run folder and build its model.

    A run folder gives its trained weights (``weights``: "best", "last", or
    None for best when present); a design file gives an untrained model,
    initialised with ``seed`` so repeated exports agree.
    """
    design, folder = read_design(path)
    if folder is None and weights is not None:
        raise ExportError(f"{path}: --weights {weights} needs a run folder; a design file has no trained weights")
    try:
        model = build_model(design, seed=seed)
    except DesignShapeError as error:
        raise ExportError(f"{path}: {error}") from None
    model.eval()
    if folder is None:
        return ExportSource(design, model, None)
    from convstudio.core.training.run_folder import RunFolderError, load_checkpoint

    file = _weights_file(folder, weights)
    try:
        state = load_checkpoint(file)
    except RunFolderError as error:
        raise ExportError(str(error)) from None
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise ExportError(f"{file}: not a ConvStudio checkpoint (no 'model' entry with the weights)")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:  # the design was edited after training: names or shapes differ
        details = " ".join(str(error).split())
        raise ExportError(f"{file}: its weights do not fit {folder.path / 'design.json'}: {details}") from None
    return ExportSource(design, model, file, state.get("epoch"))
