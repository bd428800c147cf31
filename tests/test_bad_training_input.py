"""Bad input to ``convstudio train`` and ``check``: refused before the data loads, with the fix, exit 2."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from convstudio.core.cli.main import main
from convstudio.core.design import Design, save_design
from convstudio.core.shapes import infer_shapes
from convstudio.core.training.classifier_output import classifier_problem
from convstudio.core.training.memory import estimate_training_memory, memory_problem
from convstudio.core.training.run_folder import RunFolder, dumps_json
from design_helpers import tiny_design

TRAIN = [sys.executable, "-m", "convstudio", "train"]
QUICK = ["--dataset", "shapes", "--limit", "100", "--epochs", "1", "--batch-size", "16", "--mc-samples", "1"]


pytestmark = pytest.mark.usefixtures("isolated_runs_root")  # every command here: never the user's runs root


def _train(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([*TRAIN, *args], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _design(layers: list[dict], **fields) -> Design:
    return Design.model_validate({"name": "d", "input": {"channels": 3, "height": 32, "width": 32},
                                  "layers": layers, **fields})


def test_out_naming_a_file_is_refused(tiny_design_file, tmp_path):
    existing = tmp_path / "notes.txt"
    existing.write_text("mine")
    result = _train(str(tiny_design_file), *QUICK, "--out", str(existing))
    assert result.returncode == 2
    assert f"{existing} is a file, not a folder" in result.stderr
    assert existing.read_text() == "mine"


def test_out_naming_another_run_is_refused_unless_overwrite(tiny_design_file, tmp_path):
    other = tmp_path / "other-run"
    other.mkdir()
    save_design(_design([{"kind": "flatten"}, {"kind": "linear", "out_features": 10}], name="other"),
                other / "design.json")
    (other / "run.json").write_text('{"status": "ended"}')
    (other / "checkpoint.pt").write_bytes(b"weights of another design")
    refused = _train(str(tiny_design_file), *QUICK, "--out", str(other))
    assert refused.returncode == 2
    assert f"{other} already holds a run" in refused.stderr and "--overwrite" in refused.stderr
    assert (other / "checkpoint.pt").read_bytes() == b"weights of another design"

    replaced = _train(str(tiny_design_file), *QUICK, "--out", str(other), "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert RunFolder(other).design().name == "tiny"
    assert RunFolder(other).status()["reason"] == "finished"


def test_a_dataset_with_one_class_is_refused(tiny_design_file, tmp_path):
    from PIL import Image

    folder = tmp_path / "pictures"
    (folder / "cats").mkdir(parents=True)
    for number in range(4):
        Image.new("RGB", (32, 32), (number * 40, 0, 0)).save(folder / "cats" / f"{number}.png")
    result = _train(str(tiny_design_file), "--dataset", str(folder), "--epochs", "1", "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "a classifier needs at least two classes" in result.stderr and "cats" in result.stderr
    assert not (tmp_path / "r").exists()  # nothing is left behind by a run that could not start


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_numbers_are_refused(tiny_design_file, tmp_path, value):
    result = _train(str(tiny_design_file), *QUICK, f"--lr={value}", "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert f"learning_rate: must be a finite number, not {value}" in result.stderr


@pytest.mark.parametrize("layers, expected", [
    ([], "the design has no layers, so it cannot train as a classifier yet"),
    ([{"kind": "conv2d", "out_channels": 4, "kernel_size": 3}],
     "the design outputs 4x30x30 values per image, not one score per class"),
    ([{"kind": "flatten"}, {"kind": "linear", "out_features": 1, "activation": "none"}],
     "a classifier needs at least two classes"),
])
def test_check_accepts_the_shapes_but_says_the_design_cannot_train_and_train_refuses(
        tmp_path, capsys, layers, expected):
    path = tmp_path / "design.json"
    save_design(_design(layers), path)
    assert main(["check", str(path)]) == 0  # valid shapes: still a valid check
    assert expected in capsys.readouterr().out
    assert main(["check", "--json", str(path)]) == 0
    assert expected in json.loads(capsys.readouterr().out)["classifier_problem"]
    result = _train(str(path), *QUICK, "--out", str(tmp_path / "r"))
    assert result.returncode == 2 and expected in result.stderr


def test_a_classifier_passes_the_rule():
    assert classifier_problem(infer_shapes(tiny_design())) is None
    assert classifier_problem(infer_shapes(tiny_design()), num_classes=10) is None
    assert "has 5 classes" in classifier_problem(infer_shapes(tiny_design()), num_classes=5, dataset="mine")


def test_a_design_file_without_layers_is_refused(tmp_path, capsys):
    path = tmp_path / "design.json"
    path.write_text(json.dumps({"schema_version": 2, "input": {"channels": 3, "height": 32, "width": 32}}))
    assert main(["check", str(path)]) == 2
    assert "no 'layers' field" in capsys.readouterr().err
    result = _train(str(path), *QUICK)
    assert result.returncode == 2 and "no 'layers' field" in result.stderr


# ----- memory --------------------------------------------------------------------------------------


def test_the_memory_estimate_adds_weights_optimizer_state_and_a_batchs_activations():
    report = infer_shapes(tiny_design())
    adam = estimate_training_memory(report, 128, "adam")
    assert adam.parameters == 2 * 4 * report.total_params
    assert adam.optimizer_state == 2 * 4 * report.total_params  # s and r
    assert adam.activations == 2 * 4 * report.activation_values * 128
    assert estimate_training_memory(report, 128, "sgd", momentum=0).optimizer_state == 0
    assert estimate_training_memory(report, 256, "adam").total > adam.total
    assert memory_problem(report, 128, "adam", 0.0, available=adam.total) is None
    assert memory_problem(report, 128, "adam", 0.0, available=None) is None  # unknown: no refusal


def test_a_design_too_big_for_memory_is_refused_with_the_estimate_and_the_fix():
    report = infer_shapes(tiny_design())
    fixed = estimate_training_memory(report, 0, "adam").total
    per_image = 2 * 4 * report.activation_values
    message = memory_problem(report, 128, "adam", 0.0, available=fixed + 10 * per_image)
    assert message.startswith("training this design needs about ")
    assert "lower the batch size to 10 or less" in message
    assert "use fewer or smaller layers" in memory_problem(report, 128, "adam", 0.0, available=fixed // 2)


def test_train_refuses_a_batch_that_cannot_fit_before_loading_data(tmp_path):
    # 256 channels at 32x32 is 1 MiB of activations per image: 65,536 images need far more than any machine here.
    wide = _design([{"kind": "conv2d", "out_channels": 256, "kernel_size": 3, "padding": 1},
                    {"kind": "flatten"}, {"kind": "linear", "out_features": 10, "activation": "none"}])
    path = tmp_path / "wide.json"
    save_design(wide, path)
    result = _train(str(path), "--dataset", "cifar10", "--batch-size", "65536", "--epochs", "1",
                    "--out", str(tmp_path / "r"))
    # cifar10 is not on disk here: the memory check comes first, so the message is about memory.
    assert result.returncode == 2
    assert "training this design needs about" in result.stderr and "lower the batch size to" in result.stderr


# ----- image folders and standard JSON -------------------------------------------------------------


def test_an_image_folder_gets_a_stratified_test_split(tmp_path):
    from PIL import Image

    from convstudio.core.data import load_dataset

    folder = tmp_path / "pictures"
    for label, colour in (("cats", (200, 0, 0)), ("dogs", (0, 0, 200))):
        (folder / label).mkdir(parents=True)
        for number in range(20):
            Image.new("RGB", (8, 8), (colour[0], number * 10, colour[2])).save(folder / label / f"{number}.png")
    data = load_dataset(str(folder), data_dir=tmp_path / "data", val_fraction=0.1)
    assert len(data.test_labels) == 4 and sorted(data.test_labels.tolist()) == [0, 0, 1, 1]
    assert len(data.train_labels) + len(data.val_labels) + len(data.test_labels) == 40
    assert len(data.val_labels) > 0


def test_run_files_are_standard_json(tmp_path):
    folder = RunFolder(tmp_path)
    folder.write_status("ended", test_accuracy=math.nan, test_loss=math.inf, nested={"x": [math.nan, 1.0]})
    text = (tmp_path / "run.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    status = json.loads(text)
    assert status["test_accuracy"] is None and status["nested"] == {"x": [None, 1.0]}
    folder.append_lines("metrics.jsonl", [{"epoch": 1, "val_loss": math.nan}])
    assert json.loads((tmp_path / "metrics.jsonl").read_text()) == {"epoch": 1, "val_loss": None}
    assert dumps_json({"a": float("nan")}) == '{"a": null}'


# ----- a damaged run folder, bad saved settings: one sentence naming the file (main() in-process) -----


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A one-epoch run of the tiny design on a few shapes images (copied by each test that damages it)."""
    from convstudio.core.data import load_dataset
    from convstudio.core.training.engine import TrainingRun
    from convstudio.core.training.settings import TrainingSettings

    run_dir = tmp_path_factory.mktemp("runs") / "run"
    settings = TrainingSettings(dataset="shapes", data_limit=100, epochs=1, batch_size=16, mc_samples=1, device="cpu")
    TrainingRun(tiny_design(), settings, run_dir, data=load_dataset("shapes", limit=100, seed=0)).run()
    return run_dir


def _damaged_copy(finished_run, tmp_path, name, content: bytes):
    import shutil

    run_dir = tmp_path / "damaged"
    shutil.copytree(finished_run, run_dir)
    (run_dir / name).write_bytes(content)
    return run_dir


def _one_sentence(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err and "pydantic" not in err, err
    return lines[0]


@pytest.mark.parametrize("name, content, expected", [
    ("checkpoint.pt", b"PK\x03\x04 torn", "checkpoint.pt cannot be read (truncated or not a checkpoint): delete it "
                                          "to restart the run from epoch 1, or restore it"),
    ("settings.json", b'{"epochs": "many"', "settings.json cannot be read (not valid JSON): restore it"),
    ("settings.json", b'{"epochs": -3}', "settings.json cannot be read (epochs: "),
])
def test_resume_of_a_damaged_run_names_the_file_and_the_fix(finished_run, tmp_path, capsys, name, content, expected):
    run_dir = _damaged_copy(finished_run, tmp_path, name, content)
    assert main(["train", "--resume", str(run_dir)]) == 2
    line = _one_sentence(capsys.readouterr().err)
    assert expected in line and str(run_dir / name) in line


def test_resume_of_another_torch_file_as_checkpoint_names_the_file(finished_run, tmp_path, capsys):
    import io

    import torch

    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(2)}, buffer)  # readable, but not a run's checkpoint
    run_dir = _damaged_copy(finished_run, tmp_path, "checkpoint.pt", buffer.getvalue())
    assert main(["train", "--resume", str(run_dir)]) == 2
    assert "checkpoint.pt cannot be read" in _one_sentence(capsys.readouterr().err)


def test_a_torn_run_json_does_not_stop_a_resume(finished_run, tmp_path):
    run_dir = _damaged_copy(finished_run, tmp_path, "run.json", b"\xff\xfe[1, 2")
    assert RunFolder(run_dir).status() == {}
    (run_dir / "run.json").write_text("[1, 2]", encoding="utf-8")
    assert RunFolder(run_dir).status() == {} and RunFolder(run_dir).process_alive() is None


def test_resume_of_a_file_says_it_is_a_file(tmp_path, capsys):
    existing = tmp_path / "notes.txt"
    existing.write_text("mine", encoding="utf-8")
    assert main(["train", "--resume", str(existing)]) == 2
    line = _one_sentence(capsys.readouterr().err)
    assert f"{existing} is a file, not a run folder" in line and "no such folder" not in line


def test_bad_training_values_in_a_design_name_the_file_the_section_and_the_option(tmp_path, capsys):
    path = tmp_path / "saved.json"
    save_design(tiny_design().model_copy(update={"training": {"learning_rate": "fast"}}), path)
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    line = _one_sentence(capsys.readouterr().err)
    assert (f"{path}: the \"training\" section's learning_rate is not valid" in line and "'fast'" in line
            and "correct it in the design file, or override it with --lr" in line)
    # the option overrides the bad saved value; an option's own bad value is still named as the option's field
    assert main(["train", str(path), "--lr", "-1", "--out", str(tmp_path / "run")]) == 2
    assert "learning_rate" in capsys.readouterr().err and not (tmp_path / "run").exists()


# ----- what --resume honours: --epochs trains on; other options are refused, never silently ignored -----


def _copy(finished_run, tmp_path):
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run, run_dir)
    return run_dir


def test_resume_refuses_the_options_it_would_ignore(finished_run, tmp_path, capsys, tiny_design_file):
    run_dir = _copy(finished_run, tmp_path)
    assert main(["train", "--resume", str(run_dir), "--lr", "0.1", "--batch-size", "8"]) == 2
    line = _one_sentence(capsys.readouterr().err)
    assert "cannot take --batch-size, --lr: leave them out" in line and "--epochs to train on" in line
    assert main(["train", str(tiny_design_file), "--resume", str(run_dir)]) == 2
    assert f"cannot take a design ({tiny_design_file})" in _one_sentence(capsys.readouterr().err)
    assert json.loads((run_dir / "settings.json").read_text())["epochs"] == 1  # nothing changed


def test_resume_with_more_epochs_trains_on_to_the_new_total(finished_run, tmp_path, capsys):
    run_dir = _copy(finished_run, tmp_path)
    settings = json.loads((run_dir / "settings.json").read_text())
    assert main(["train", "--resume", str(run_dir), "--epochs", "2"]) == 0
    captured = capsys.readouterr()
    assert "training on to 2 epochs (the run was set for 1)" in captured.err
    assert ("cosine schedule now spans the new length" in captured.err) == (settings["schedule"] == "cosine")
    assert "epoch 2:" in captured.out and "epoch 1:" not in captured.out
    assert [row["epoch"] for row in RunFolder(run_dir).read_lines("metrics.jsonl")] == [1, 2]
    assert json.loads((run_dir / "settings.json").read_text())["epochs"] == 2  # the run's record says so
    # a count the run has reached already is refused with the way out
    assert main(["train", "--resume", str(run_dir), "--epochs", "1"]) == 2
    assert "has finished 2 epochs already: give --epochs more than 2" in _one_sentence(capsys.readouterr().err)


def test_resume_with_more_epochs_refuses_a_one_cycle_schedule(finished_run, tmp_path, capsys):
    run_dir = _copy(finished_run, tmp_path)
    settings = json.loads((run_dir / "settings.json").read_text())
    (run_dir / "settings.json").write_text(json.dumps({**settings, "schedule": "one_cycle"}), encoding="utf-8")
    assert main(["train", "--resume", str(run_dir), "--epochs", "3"]) == 2
    assert "one_cycle schedule, whose length (1 epochs) is fixed" in _one_sentence(capsys.readouterr().err)
