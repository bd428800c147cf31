"""What is inspected: a trained run (its design and weights) or an untrained design.

A run is read through :class:`~core.training.run_folder.RunFolder` (its
``design.json``, settings and ``best.pt``/``checkpoint.pt``); images are
normalised as its training normalised them, with the training split's
per-channel mean and standard deviation. An untrained design is built with a
fixed seed; without a dataset its images are normalised with mean 0.5 and
standard deviation 0.25 per channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from convstudio.core.builder import DesignNet, DesignShapeError, build_model
from convstudio.core.data import DatasetSplits
from convstudio.core.design import Design, DesignFileError, load_design
from convstudio.core.shapes import infer_shapes
from convstudio.core.training.classifier_output import classifier_problem
from convstudio.core.training.run_folder import RunFolder, RunFolderError, WeightsChoice, load_checkpoint

UNTRAINED_MEAN, UNTRAINED_STD = 0.5, 0.25
UNTRAINED_SEED = 0


class InspectionError(Exception):
    """Something to inspect or look at that cannot be used, with a message meant for a person."""


@dataclass
class Subject:
    """A network ready to be looked into, with how its inputs are normalised."""

    design: Design
    model: DesignNet  # in evaluation mode, on the CPU
    description: str  # "run runs/cifar (best.pt)" or "untrained design lenet.json"
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    data: DatasetSplits | None = None  # the dataset, when it was loaded (test images, class names)
    trained: bool = False

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 (C, H, W) pixels -> the float (1, C, H, W) batch the network takes."""
        mean = torch.tensor(self.mean).view(-1, 1, 1)
        std = torch.tensor(self.std).view(-1, 1, 1)
        return ((pixels.float() / 255 - mean) / std).unsqueeze(0)


def _class_names(count: int, data: DatasetSplits | None) -> tuple[str, ...]:
    if data is not None and len(data.classes) == count:
        return data.classes
    return tuple(f"class {index}" for index in range(count))


def _output_count(model: DesignNet, design: Design) -> int:
    with torch.no_grad():
        return int(model.logits(torch.zeros(1, *design.input.shape)).shape[1])


def _check_images(design: Design, source: str) -> None:
    if design.input.depth is not None:
        raise InspectionError(f"{source}: the design takes volumes (depth {design.input.depth}); "
                              "inspect shows images, so use a design with 2-D input")
    # Top-5, saliency and Grad-CAM need one score per class; an impossible design is
    # left to build_model, whose message names the layer at fault.
    problem = classifier_problem(infer_shapes(design))
    if problem is not None:
        raise InspectionError(f"{source}: {problem}")


def load_run_subject(run_dir: str | Path, weights: WeightsChoice | None = None, data: DatasetSplits | None = None,
                     load_data: bool = True) -> Subject:
    """A run folder's design and trained weights; its dataset (for normalisation and test images) unless given.

    Raises InspectionError naming the file and the fix.
    """
    folder = RunFolder(Path(run_dir))
    try:
        folder.check_resumable()  # a folder without a run's design and settings: say what a run holds
        design = folder.design()
        path = folder.weights_path(weights)
        settings = folder.settings()
    except (RunFolderError, DesignFileError) as error:
        raise InspectionError(str(error)) from None
    _check_images(design, str(folder.path))
    try:
        model = build_model(design)
        model.load_state_dict(load_checkpoint(path)["model"])
    except (DesignShapeError, RunFolderError) as error:
        raise InspectionError(str(error)) from None
    except (KeyError, RuntimeError) as error:
        raise InspectionError(f"{path}: the weights do not fit the run's design ({error})") from None
    if data is None and load_data:
        data = _dataset(settings)
    model.eval()
    count = _output_count(model, design)
    mean, std = _normalisation(data, design.input.channels)
    return Subject(design, model, f"run {folder.path} ({path.name})", _class_names(count, data), mean,
                   std, data, trained=True)


def _normalisation(data: DatasetSplits | None, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation for a design taking ``channels`` channels.

    The dataset's own statistics when its images have that many channels; otherwise
    (no dataset, or images converted from colour to grey or back to fit the design)
    the untrained defaults, one value per channel the network takes.
    """
    if data is not None and len(data.mean) == channels:
        return tuple(data.mean), tuple(data.std)
    return (UNTRAINED_MEAN,) * channels, (UNTRAINED_STD,) * channels


def _dataset(settings) -> DatasetSplits:
    from convstudio.core.training.setup import TrainingSetupError, load_data

    try:
        return load_data(settings)
    except TrainingSetupError as error:
        raise InspectionError(str(error)) from None


def load_design_subject(design_path: str | Path | None = None, design: Design | None = None,
                        data: DatasetSplits | None = None) -> Subject:
    """An untrained design (from a file or given), built with a fixed seed.

    With ``data``, images are normalised with its statistics and its class names are used.
    """
    source = str(design_path) if design_path is not None else "design"
    if design is None:
        try:
            design = load_design(design_path)
        except DesignFileError as error:
            raise InspectionError(str(error)) from None
    _check_images(design, source)
    try:
        model = build_model(design, seed=UNTRAINED_SEED).eval()
    except DesignShapeError as error:
        raise InspectionError(f"{source}: {error}") from None
    count = _output_count(model, design)
    mean, std = _normalisation(data, design.input.channels)
    return Subject(design, model, f"untrained design {source}", _class_names(count, data), mean, std, data)


def design_dataset(design: Design) -> DatasetSplits:
    """The dataset an untrained design's saved training settings name (the built-in shapes by default)."""
    from convstudio.core.training.design_settings import saved_settings

    try:
        settings = saved_settings(design, {})
    except ValueError as error:
        raise InspectionError(f"the design's saved training settings are not valid: {error}") from None
    return _dataset(settings)


def load_subject(path: str | Path, weights: WeightsChoice | None = None, need_data: bool = False) -> Subject:
    """A run folder (a directory) or a design file, as :func:`load_run_subject` or :func:`load_design_subject`.

    ``need_data``: load the dataset for an untrained design too (for its test images).
    """
    path = Path(path)
    if path.is_dir():
        return load_run_subject(path, weights)
    if not path.exists():
        raise InspectionError(f"{path}: no such run folder or design file")
    subject = load_design_subject(path)
    if need_data:
        data = design_dataset(subject.design)
        subject = load_design_subject(path, subject.design, data)
    return subject
