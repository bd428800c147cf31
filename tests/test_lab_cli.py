"""The lab's commands: tables on stdout, exit codes, readable messages instead of tracebacks."""

from __future__ import annotations

import argparse
import json

import pytest

from convstudio.core.cli.lab import add_lab_parsers
from convstudio.core.data import load_dataset
from convstudio.core.design import Design, save_design
from convstudio.core.presets import load_preset
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.settings import TrainingSettings


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="convstudio")
    commands = parser.add_subparsers(dest="command")
    add_lab_parsers(commands)
    args = parser.parse_args(argv)
    return args.handler(args)


def _tiny(dropout: float = 0.3) -> Design:
    return Design.model_validate({
        "name": "tiny",
        "input": {"channels": 3, "height": 32, "width": 32},
        "layers": [
            {"kind": "conv2d", "out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1},
            {"kind": "maxpool2d", "kernel_size": 4},
            {"kind": "flatten"},
            {"kind": "dropout", "p": dropout},
            {"kind": "linear", "out_features": 10, "activation": "none"},
            {"kind": "softmax"},
        ],
    })


@pytest.fixture
def lenet_file(tmp_path):
    path = tmp_path / "lenet.json"
    save_design(load_preset("lenet"), path)
    return path


def test_gradcheck_prints_the_table_and_passes(lenet_file, capsys):
    assert _main(["gradcheck", str(lenet_file), "--entries", "3", "--curve"]) == 0
    out = capsys.readouterr().out
    assert "conv1" in out and "fc3" in out and "FAIL" not in out and "all layers pass" in out
    assert "best Delta: forward" in out


def test_gradcheck_exits_1_on_a_failure(lenet_file, capsys):
    # a huge Delta crosses no kink in tanh but makes the finite differences wrong
    assert _main(["gradcheck", str(lenet_file), "--entries", "2", "--delta", "0.5"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_gradcheck_exits_2_on_an_unreadable_design(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    assert _main(["gradcheck", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "not valid JSON" in err and "Traceback" not in err
    assert _main(["gradcheck", str(tmp_path / "missing.json")]) == 2
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"input": {"channels": 1, "height": 4, "width": 4},
                                 "layers": [{"kind": "flatten"}]}), encoding="utf-8")
    assert _main(["gradcheck", str(empty)]) == 2
    assert "no parameters" in capsys.readouterr().err


def test_signal_prints_every_scheme(tmp_path, capsys):
    path = tmp_path / "tiny.json"
    save_design(_tiny(), path)
    assert _main(["signal", str(path), "--scheme", "all", "--batch-size", "32", "--no-batchnorm"]) == 0
    out = capsys.readouterr().out
    for scheme in ("pytorch_default", "lecture_normal", "lecture_uniform", "he", "glorot"):
        assert f": {scheme}, C = 1" in out
    assert "Var[Z]=1" in out and "conv1_relu" in out


def test_signal_with_real_images(tmp_path, capsys):
    path = tmp_path / "tiny.json"
    save_design(_tiny(), path)
    assert _main(["signal", str(path), "--dataset", "shapes", "--batch-size", "16", "--gain", "2"]) == 0
    assert "16 data images" in capsys.readouterr().out
    save_design(load_preset("lenet"), path)  # 28 x 28 grey: does not fit the shapes images
    assert _main(["signal", str(path), "--dataset", "shapes", "--batch-size", "16"]) == 2
    assert "expects" in capsys.readouterr().err


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    settings = TrainingSettings(dataset="shapes", data_limit=120, epochs=1, batch_size=32, device="cpu", mc_samples=2)
    data = load_dataset("shapes", limit=120, seed=0, val_fraction=settings.val_fraction)
    TrainingRun(_tiny(), settings, run_dir, data=data).run()
    return run_dir


def test_dropout_lab_on_a_run(trained_run, capsys):
    assert _main(["dropout-lab", str(trained_run), "--samples", "1,3", "--limit", "50"]) == 0
    out = capsys.readouterr().out
    assert "weight scaling" in out and out.count("Monte Carlo") >= 2 and "50 shapes test images" in out


def test_dropout_lab_refuses_bad_input(trained_run, tmp_path, capsys):
    assert _main(["dropout-lab", str(tmp_path / "nowhere")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    assert _main(["dropout-lab", str(trained_run), "--samples", "0,x"]) == 2
    assert "--samples" in capsys.readouterr().err


def test_ensemble_command(tmp_path, capsys):
    path = tmp_path / "tiny.json"
    save_design(_tiny(dropout=0.0), path)
    out_dir = tmp_path / "ensemble"
    code = _main(["ensemble", str(path), "--members", "2", "--epochs", "1", "--limit", "100", "--device", "cpu",
                  "--batch-size", "32", "--out", str(out_dir)])
    assert code == 0
    out = capsys.readouterr().out
    assert "ensemble of 2" in out and "average" in out
    assert sorted(p.name for p in out_dir.iterdir()) == ["member1-seed0", "member2-seed1"]
    assert _main(["ensemble", str(path), "--members", "2", "--epochs", "0", "--out", str(out_dir)]) == 2
    assert "invalid settings: epochs" in capsys.readouterr().err


def test_remedies_command(tmp_path, capsys):
    path = tmp_path / "tiny.json"
    save_design(_tiny(), path)
    code = _main(["remedies", str(path), "--epochs", "1", "--limit", "100", "--device", "cpu", "--batch-size", "32",
                  "--out", str(tmp_path / "remedies")])
    assert code == 0
    out = capsys.readouterr().out
    for label in ("baseline", "dropout", "batch norm", "augmentation", "L2 0.01", "early stopping"):
        assert label in out
    assert len(list((tmp_path / "remedies").iterdir())) == 8


def _tiny_residual() -> Design:
    return Design.model_validate({
        "name": "tiny residual",
        "input": {"channels": 3, "height": 8, "width": 8},
        "layers": [
            {"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
            {"kind": "residual", "body": [{"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}]},
            {"kind": "flatten"},
            {"kind": "linear", "out_features": 3, "activation": "none"},
        ],
    })


def test_layer_names_inside_blocks_keep_apart_in_the_tables(tmp_path, capsys):
    # names such as "res1.body.conv1" are longer than the old fixed columns and ran into the next one
    path = tmp_path / "residual.json"
    save_design(_tiny_residual(), path)
    assert _main(["signal", str(path), "--batch-size", "8"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    block_rows = [row for row in rows if row and "." in row[0]]
    assert block_rows, "the residual block's inner layers should be listed"
    for row in block_rows:
        assert row[1].startswith(row[0]) and row[1] != row[0] * 2 and row[2] in ("Z", "H"), row
    assert _main(["gradcheck", str(path), "--entries", "2"]) in (0, 1)
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert any(row and "." in row[0] and row[1] == "conv2d" for row in rows), rows
