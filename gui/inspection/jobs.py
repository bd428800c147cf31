"""The Inspect view's background work: plain functions run on a worker thread (see gui.background).

Each returns plain objects the view then shows; none touches a widget.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from convstudio.core.design import Design
from convstudio.core.jobs import JobContext, JobError


@dataclass(frozen=True)
class SubjectKey:
    """Which network: a run folder, or the designer's design as it is (untrained)."""

    run_dir: Path | None
    design: Design | None  # the design object itself: an edit makes a new one

    def same_as(self, other: "SubjectKey | None") -> bool:
        return other is not None and self.run_dir == other.run_dir and self.design is other.design


def load_subject_for(key: SubjectKey):
    """The subject of ``key``, its dataset from the lab's cache (for test images and normalisation)."""
    from convstudio.core.inspection.subject import InspectionError, load_design_subject, load_run_subject
    from convstudio.core.training.design_settings import saved_settings
    from convstudio.core.training.run_folder import RunFolder, RunFolderError
    from convstudio.core.training.setup import TrainingSetupError
    from convstudio.gui.lab.datasets import run_data

    try:
        if key.run_dir is not None:
            settings = RunFolder(key.run_dir).settings()
            return load_run_subject(key.run_dir, data=run_data(settings))
        return load_design_subject(design=key.design, data=run_data(saved_settings(key.design, {})))
    except (InspectionError, RunFolderError, TrainingSetupError, ValueError) as error:
        raise JobError(str(error)) from None


def inspect_job(job: JobContext, key: SubjectKey, subject, request, options):
    """Load the subject when it is not ``subject`` already, prepare the image, run the view.

    ``request``: ("test", index), ("file", path) or ("image", PreparedImage).
    Returns (subject, image, ViewResult).
    """
    from convstudio.core.inspection.images import dataset_image, fit_to_input, read_image_file
    from convstudio.core.inspection.subject import InspectionError
    from convstudio.core.inspection.view import run_view

    job.progress(0, 3)
    if subject is None:
        subject = load_subject_for(key)
    job.progress(1, 3)
    spec = subject.design.input
    kind, value = request
    try:
        if kind == "test":
            if subject.data is None:
                raise InspectionError("no dataset is loaded for this network; open an image file instead")
            image = dataset_image(subject.data, value, "test", spec)
        elif kind == "file":
            image = read_image_file(value, spec)
        else:
            image = fit_to_input(value, spec)
        job.progress(2, 3)
        result = run_view(subject, image, options)
    except InspectionError as error:
        raise JobError(str(error)) from None
    job.progress(3, 3)
    return subject, image, result


def unit_job(job: JobContext, inspection, unit: tuple[int, int], channel: int | None):
    """The inspection with another unit clicked, and its receptive field picture."""
    from convstudio.core.inspection.view import receptive_field_picture, with_unit

    updated = with_unit(inspection, unit, channel)
    return updated, receptive_field_picture(updated)
