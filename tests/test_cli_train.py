"""``convstudio train`` on the command line: outputs, run folder and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from convstudio.core.cli.options import TRAINING_OPTIONS, parse_augmentation
from convstudio.core.design import save_design
from convstudio.core.training.run_index import design_runs_folder, list_runs
from design_helpers import tiny_design


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "convstudio", "train", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


pytestmark = pytest.mark.usefixtures("isolated_runs_root")  # every command here: never the user's runs root


def test_train_writes_metrics_and_resumes(tiny_design_file, tmp_path):
    run_dir = tmp_path / "run"
    result = _cli(str(tiny_design_file), "--dataset", "shapes", "--limit", "300", "--epochs", "2", "--batch-size", "32",
                  "--augment", "flip,rotate=10,brightness=0.2", "--optimizer", "sgd", "--lr", "0.05",
                  "--out", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert "epoch 2: train loss" in result.stdout and "finished" in result.stdout
    assert "Traceback" not in result.stderr
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    assert {"epoch", "train_loss", "val_loss", "val_accuracy"} <= set(rows[0])
    settings = json.loads((run_dir / "settings.json").read_text())
    assert settings["optimizer"] == "sgd" and settings["augmentation"]["rotate_degrees"] == 10
    settings["epochs"] = 3
    (run_dir / "settings.json").write_text(json.dumps(settings))
    resumed = _cli("--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    assert "epoch 3:" in resumed.stdout and "epoch 1:" not in resumed.stdout
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("problem, args, expected", [
    ("unknown dataset", ["--dataset", "imagenet-22k"], "imagenet-22k"),
    ("missing offline", ["--dataset", "cifar10"], "cifar-10-batches-py"),
    ("bad augmentation", ["--augment", "wobble=3"], "unknown augmentation 'wobble'"),
    ("bad setting", ["--lr", "-1"], "learning_rate"),
])
def test_bad_input_exits_2_with_a_message(tiny_design_file, tmp_path, problem, args, expected):
    result = _cli(str(tiny_design_file), "--epochs", "1", "--out", str(tmp_path / "r"), *args,
                  env={"CONVSTUDIO_DATA": str(tmp_path / "empty-data")})
    assert result.returncode == 2, (problem, result.stdout, result.stderr)
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_and_impossible_designs_exit_2(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"input": {"channels": 3, "height": 32, "width": 32}, "layers": [{"kind": "conv9d"}]')
    result = _cli(str(broken), "--epochs", "1")
    assert result.returncode == 2 and "broken.json" in result.stderr and "Traceback" not in result.stderr
    impossible = tiny_design().model_copy(deep=True)
    impossible.layers[0] = impossible.layers[0].model_copy(update={"kernel_size": 40, "padding": 0})
    path = tmp_path / "impossible.json"
    save_design(impossible, path)
    result = _cli(str(path), "--epochs", "1", "--limit", "100")
    assert result.returncode == 2 and "layer 1 (conv2d)" in result.stderr and "kernel" in result.stderr
    grey = tmp_path / "grey.json"
    save_design(tiny_design(channels=1), grey)
    result = _cli(str(grey), "--epochs", "1", "--limit", "100")
    assert result.returncode == 2 and "set the design's input to channels 3" in result.stderr


def test_augmentation_spec_parsing():
    assert parse_augmentation("flip, rotate=15,crop=0.8,pad=4,brightness=0.2,contrast=0.1") == {
        "flip": True, "rotate_degrees": 15.0, "crop_scale": 0.8, "crop_padding": 4, "brightness": 0.2,
        "contrast": 0.1}
    with pytest.raises(ValueError, match="rotate needs a number"):
        parse_augmentation("rotate=much")


def test_without_out_the_run_goes_where_the_app_lists_the_designs_runs(tiny_design_file, isolated_runs_root, tmp_path):
    result = _cli(str(tiny_design_file), "--dataset", "shapes", "--limit", "100", "--epochs", "1", "--batch-size", "50")
    assert result.returncode == 0, result.stderr
    runs = list_runs(design_runs_folder(isolated_runs_root, "tiny"))  # what the app's Runs tab lists for the design
    assert len(runs) == 1 and runs[0].reason == "finished" and runs[0].epochs_done == 1
    assert str(runs[0].path) in result.stderr  # the CLI says where it wrote


def test_option_choices_are_the_settings_choices():
    from typing import get_args

    from convstudio.core.training.settings import TrainingSettings

    for option, (field, arguments) in TRAINING_OPTIONS.items():
        assert field in TrainingSettings.model_fields, option
        if "choices" in arguments:
            annotation = TrainingSettings.model_fields[field].annotation
            assert tuple(arguments["choices"]) == get_args(annotation), option


def test_options_override_the_designs_saved_settings():
    from convstudio.core.cli.options import settings_from_args, train_options
    from convstudio.core.cli import build_parser

    design = tiny_design(training={"epochs": 7, "optimizer": "sgd", "augmentation": {"flip": True}})
    args = build_parser().parse_args(["train", "d.json", "--lr", "0.5", "--augment", "rotate=10",
                                      "--early-stopping", "3", "--freeze", "conv1, "])
    settings = settings_from_args(args, design)
    assert (settings.epochs, settings.optimizer, settings.learning_rate) == (7, "sgd", 0.5)
    assert settings.augmentation.flip and settings.augmentation.rotate_degrees == 10
    assert settings.early_stopping and settings.patience == 3 and settings.freeze == ["conv1"]
    assert settings.dataset == "shapes"  # the command line's default, whatever is downloaded
    assert train_options({"dataset": "cifar10", "device": None, "data_limit": 50}) == [
        "--dataset", "cifar10", "--limit", "50"]
