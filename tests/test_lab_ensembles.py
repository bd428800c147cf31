"""Ensembles: K members from different seeds, their averaged softmax against each member."""

from __future__ import annotations

import numpy as np
import pytest

from convstudio.core.data import load_dataset
from convstudio.core.design import Design
from convstudio.core.lab.ensembles import MemberResult, ensemble_from_runs, evaluate_ensemble, train_ensemble
from convstudio.core.training.run_folder import RunFolder
from convstudio.core.training.settings import TrainingSettings


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes", limit=400, seed=0)


def _tiny_design() -> Design:
    return Design.model_validate({
        "name": "tiny",
        "input": {"channels": 3, "height": 32, "width": 32},
        "layers": [
            {"kind": "conv2d", "out_channels": 12, "kernel_size": 3, "stride": 2, "padding": 1},
            {"kind": "maxpool2d", "kernel_size": 2},
            {"kind": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
            {"kind": "maxpool2d", "kernel_size": 4},
            {"kind": "flatten"},
            {"kind": "linear", "out_features": 10, "activation": "none"},
        ],
    })


@pytest.fixture(scope="module")
def trained(shapes, tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble")
    settings = TrainingSettings(epochs=10, batch_size=32, learning_rate=1e-2, device="cpu", seed=10)
    seen = []
    report = train_ensemble(_tiny_design(), settings, members=3, data=shapes, runs_root=root,
                            on_record=lambda member, record: seen.append(member))
    return report, root, seen


def test_the_ensemble_beats_its_average_member(trained, shapes):
    report, _, _ = trained
    assert len(report.members) == 3 and report.test_size == len(shapes.test_labels)
    assert [m.seed for m in report.members] == [10, 11, 12]
    assert len({m.accuracy for m in report.members}) > 1  # different seeds, different members
    assert report.accuracy >= report.mean_member_accuracy
    assert report.nll <= report.mean_member_nll  # Jensen: -log is convex
    assert report.accuracy > 0.2  # the members learned something (chance is 0.1)
    sizes = report.by_size
    assert [s.members for s in sizes] == [1, 2, 3]
    assert sizes[0].accuracy == report.members[0].accuracy and sizes[-1].nll == report.nll


def test_every_member_is_a_run_folder(trained):
    report, root, seen = trained
    folders = sorted(path.name for path in root.iterdir())
    assert folders == ["member1-seed10", "member2-seed11", "member3-seed12"]
    for member in report.members:
        folder = RunFolder(root / member.run_dir.split("/")[-1])
        assert folder.status()["reason"] == "finished" and member.end_reason == "finished"
        assert folder.settings().seed == member.seed
    assert set(seen) == {0, 1, 2}


def test_existing_runs_evaluate_to_the_same_ensemble(trained, shapes):
    report, _, _ = trained
    again = ensemble_from_runs([m.run_dir for m in report.members], shapes, weights="last")
    assert again.accuracy == pytest.approx(report.accuracy)
    assert again.nll == pytest.approx(report.nll, rel=1e-5)
    assert [m.accuracy for m in again.members] == pytest.approx([m.accuracy for m in report.members])


def test_members_must_agree_on_the_classes(shapes):
    member = MemberResult(0, None, 0.0, 0.0, "loaded")
    with pytest.raises(ValueError, match="10 classes"):
        evaluate_ensemble([(member, np.full((len(shapes.test_labels), 3), 1 / 3))], shapes, 0.0)
