"""Two processes under torchrun (Gloo on CPU) follow the single-process run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from convstudio.core.design import Design, save_design
from convstudio.core.training.torchrun import torchrun_command
from convstudio.core.training.run_folder import RunFolder

pytestmark = pytest.mark.slow

_DESIGN = Design.model_validate({
    "name": "tiny",
    "input": {"channels": 3, "height": 32, "width": 32},
    "layers": [
        {"kind": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1},
        {"kind": "maxpool2d", "kernel_size": 4},
        {"kind": "flatten"},
        {"kind": "linear", "out_features": 10, "activation": "none"},
    ],
})


def _train(args: list[str], nproc: int | None = None, cwd=None) -> subprocess.CompletedProcess:
    if nproc is None:
        command = [sys.executable, "-m", "convstudio", "train", *args]
    else:
        command = torchrun_command(nproc, args) + []
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})


def _losses(run_dir) -> list[float]:
    return [row["loss"] for row in RunFolder(run_dir).read_lines("steps.jsonl")]


def test_two_processes_with_half_batches_follow_one_process(tmp_path):
    design_file = tmp_path / "tiny.json"
    save_design(_DESIGN, design_file)
    common = [str(design_file), "--dataset", "shapes", "--limit", "480", "--lr", "0.003", "--device", "cpu",
              "--mc-samples", "1", "--seed", "3"]
    single = _train([*common, "--epochs", "2", "--batch-size", "32", "--out", str(tmp_path / "one")])
    assert single.returncode == 0, single.stderr
    double = _train([*common, "--epochs", "2", "--batch-size", "16", "--out", str(tmp_path / "two")], nproc=2)
    assert double.returncode == 0, double.stderr[-3000:]

    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(one) == len(two) > 10
    assert two == pytest.approx(one, rel=1e-4, abs=1e-5)
    # Only rank 0 wrote: one metrics line per epoch, one step line per step, no duplicates.
    metrics = RunFolder(tmp_path / "two").read_lines("metrics.jsonl")
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert [row["step"] for row in RunFolder(tmp_path / "two").read_lines("steps.jsonl")] == list(range(1, len(two) + 1))
    single_metrics = RunFolder(tmp_path / "one").read_lines("metrics.jsonl")
    assert [m["val_loss"] for m in metrics] == pytest.approx([m["val_loss"] for m in single_metrics], rel=1e-4)
    status = json.loads((tmp_path / "two" / "run.json").read_text())
    assert status["reason"] == "finished"

    # Resume the two-process run for a third epoch, in one process: the process count may change.
    settings_file = tmp_path / "two" / "settings.json"
    settings = json.loads(settings_file.read_text())
    settings["epochs"] = 3
    settings_file.write_text(json.dumps(settings))
    resumed = _train(["--resume", str(tmp_path / "two")])
    assert resumed.returncode == 0, resumed.stderr
    assert [m["epoch"] for m in RunFolder(tmp_path / "two").read_lines("metrics.jsonl")] == [1, 2, 3]


def test_launch_prints_the_torchrun_command(capsys):
    from convstudio.core.cli import main

    assert main(["launch", "--nproc", "4", "--", "d.json", "--epochs", "3"]) == 0
    line = capsys.readouterr().out
    assert "torch.distributed.run --standalone --nproc-per-node=4 -m convstudio train d.json --epochs 3" in line
    assert main(["launch", "--nproc", "8", "--nnodes", "2", "--rdzv-endpoint", "head:29500", "--", "d.json"]) == 0
    line = capsys.readouterr().out
    assert "--nnodes=2 --nproc-per-node=8 --rdzv-backend=c10d --rdzv-endpoint=head:29500" in line
