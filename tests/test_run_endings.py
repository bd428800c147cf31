"""Every way a run ends leaves a true record: signals, kills, early stopping after a resume, out of memory.

The signal and kill tests run ``python -m convstudio train`` as a child process,
as a user, torchrun or a scheduler would, on a tiny design and a few hundred
images of the built-in dataset.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from convstudio.core.data import load_dataset
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.evaluation import Evaluation
from convstudio.core.training.records import EndReason, EpochRecord, StepRecord
from convstudio.core.training.run_folder import RunFolder, load_checkpoint
from convstudio.core.training.run_index import summarise_run
from convstudio.core.training.settings import TrainingSettings
from design_helpers import tiny_design

TRAIN = [sys.executable, "-m", "convstudio", "train"]
SMALL = ["--dataset", "shapes", "--limit", "300", "--batch-size", "8", "--mc-samples", "1", "--device", "cpu"]


pytestmark = pytest.mark.usefixtures("isolated_runs_root")  # every command here: never the user's runs root


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([*TRAIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, timeout: float = 120, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the run ended first: {process.communicate()}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _metric_epochs(run_dir: Path) -> list[int]:
    return [row["epoch"] for row in RunFolder(run_dir).read_lines("metrics.jsonl")]


def _assert_every_file_parses(run_dir: Path) -> None:
    for name in ("run.json", "settings.json", "design.json"):
        json.loads((run_dir / name).read_text())
    for name in ("metrics.jsonl", "steps.jsonl"):
        for line in (run_dir / name).read_text().splitlines():
            json.loads(line)
    for name in ("checkpoint.pt", "best.pt"):
        if (run_dir / name).exists():
            load_checkpoint(run_dir / name)
    assert not list(run_dir.glob(".*.tmp"))


@pytest.mark.parametrize("signal_number, exit_status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_stop_the_run_and_say_so(tiny_design_file, tmp_path, signal_number, exit_status):
    run_dir = tmp_path / "run"
    child = _start(str(tiny_design_file), *SMALL, "--epochs", "30", "--out", str(run_dir))
    _wait_for(lambda: _metric_epochs(run_dir) == [1] if (run_dir / "metrics.jsonl").exists() else False,
              process=child)
    child.send_signal(signal_number)
    stdout, stderr = child.communicate(timeout=120)
    assert child.returncode == exit_status, stderr
    name = signal.Signals(signal_number).name
    assert f"interrupted by {name}; resume with: convstudio train --resume {run_dir}" in stderr
    assert "Traceback" not in stderr
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "ended" and status["reason"] == "stopped" and name in status["message"]
    done = _metric_epochs(run_dir)
    assert status["epochs_completed"] == len(done) and done == list(range(1, len(done) + 1))
    assert load_checkpoint(run_dir / "checkpoint.pt")["epoch"] == len(done)  # the last finished epoch, intact
    _assert_every_file_parses(run_dir)


@pytest.mark.slow
def test_sigterm_to_torchrun_stops_every_process_at_the_same_batch(tiny_design_file, tmp_path):
    """What the app's multi-GPU Stop does: torchrun passes SIGTERM on; the ranks agree on where to stop."""
    from convstudio.core.training.torchrun import torchrun_command

    run_dir = tmp_path / "run"
    child = subprocess.Popen(torchrun_command(2, [str(tiny_design_file), *SMALL, "--epochs", "30", "--out", str(run_dir)]),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    _wait_for(lambda: bool(RunFolder(run_dir).read_lines("metrics.jsonl")), timeout=240, process=child)
    child.send_signal(signal.SIGTERM)
    stdout, stderr = child.communicate(timeout=120)  # no rank left waiting in a collective
    status = json.loads((run_dir / "run.json").read_text())
    assert status["reason"] == "stopped" and "SIGTERM" in status["message"], stderr[-2000:]
    done = _metric_epochs(run_dir)
    assert load_checkpoint(run_dir / "checkpoint.pt")["epoch"] == len(done) == status["epochs_completed"]
    _assert_every_file_parses(run_dir)


def test_a_run_killed_before_its_first_checkpoint_resumes_from_epoch_1(tiny_design_file, tmp_path):
    run_dir = tmp_path / "run"
    child = _start(str(tiny_design_file), *SMALL, "--epochs", "2", "--out", str(run_dir))
    # The folder is written before the data loads; kill at once, long before an epoch ends.
    _wait_for(lambda: (run_dir / "run.json").exists(), process=child)
    child.kill()
    child.communicate()
    assert not (run_dir / "checkpoint.pt").exists()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"  # the kill left no word
    summary = summarise_run(run_dir)  # but the process it names is gone: the Runs list says so
    assert summary.status == "interrupted" and summary.resumable
    # A kill during a checkpoint write leaves the atomic write's temporary file: resume removes it.
    leftover = run_dir / ".checkpoint.pt.k1ll3d.tmp"
    leftover.write_bytes(b"\0" * 1000)

    resumed = subprocess.run([*TRAIN, "--resume", str(run_dir)], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "epoch 1:" in resumed.stdout and "epoch 2:" in resumed.stdout
    assert _metric_epochs(run_dir) == [1, 2]
    assert json.loads((run_dir / "run.json").read_text())["reason"] == "finished"
    assert not leftover.exists()
    _assert_every_file_parses(run_dir)


@pytest.mark.parametrize("make_folder, expected", [
    (lambda path: None, "no such folder"),
    (lambda path: path.mkdir(), "is not a run folder (no design.json or settings.json): a run folder holds"),
])
def test_resume_of_a_folder_that_is_not_a_run_says_what_a_run_folder_holds(tmp_path, make_folder, expected):
    folder = tmp_path / "not-a-run"
    make_folder(folder)
    result = subprocess.run([*TRAIN, "--resume", str(folder)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert expected in result.stderr and "Traceback" not in result.stderr


# ----- in the engine ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_shapes():
    return load_dataset("shapes", limit=300, seed=0)


def _settings(**overrides) -> TrainingSettings:
    return TrainingSettings(**{"epochs": 8, "batch_size": 64, "learning_rate": 3e-3, "mc_samples": 1,
                               "early_stopping": True, "patience": 2, **overrides})


def _scripted_validation(monkeypatch, losses):
    """Validation losses in this order (test-set evaluation is left alone)."""
    scripted = iter(losses)
    real = TrainingRun._evaluate

    def evaluate(self, batches):
        if batches is self.prepared.val_batches:
            return Evaluation(next(scripted), 0.5, ((1,),))
        return real(self, batches)

    monkeypatch.setattr(TrainingRun, "_evaluate", evaluate)


@pytest.mark.parametrize("losses_before, losses_after, best_epoch", [
    ([1.0, 0.5, 0.7], [0.8], 2),  # the best epoch is older than the checkpoint: best.pt holds it
    ([1.0, 0.9, 0.5], [0.7, 0.8], 3),  # the best epoch is the checkpoint's own
])
def test_a_resumed_run_that_stops_early_restores_the_best_epochs_weights(
        small_shapes, tmp_path, monkeypatch, losses_before, losses_after, best_epoch):
    _scripted_validation(monkeypatch, losses_before + losses_after)
    first = TrainingRun(tiny_design(), _settings(), tmp_path / "run", data=small_shapes)
    for record in first.records():
        if isinstance(record, EpochRecord) and record.epoch + 1 == len(losses_before):
            first.control.stop()
    resumed = TrainingRun(None, None, tmp_path / "run", resume=True, data=small_shapes)
    ended = resumed.run()
    assert ended.reason == EndReason.EARLY_STOPPING
    assert ended.message.endswith(f"restored the weights of epoch {best_epoch}")
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert best["epoch"] == best_epoch
    for name, tensor in resumed.prepared.model.state_dict().items():
        assert torch.equal(tensor, best["model"][name]), name


def test_a_run_closed_mid_way_does_not_stay_running(small_shapes, tmp_path):
    run = TrainingRun(tiny_design(), _settings(early_stopping=False), tmp_path / "run", data=small_shapes)
    records = run.records()
    next(record for record in records if isinstance(record, EpochRecord))
    records.close()  # what a second Ctrl-C or an abandoned generator does
    status = RunFolder(tmp_path / "run").status()
    assert status["status"] == "ended" and status["reason"] == "stopped" and status["epochs_completed"] == 1


def test_running_out_of_host_memory_ends_the_run_with_the_fix(small_shapes, tmp_path, monkeypatch):
    import convstudio.core.training.engine as engine_module

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(engine_module, "collect_stats", no_memory)
    run = TrainingRun(tiny_design(), _settings(state_every=3), tmp_path / "run", data=small_shapes)
    steps = []
    ended = run.run(lambda record: steps.append(record) if isinstance(record, StepRecord) else None)
    assert ended.reason == EndReason.OUT_OF_MEMORY and "lower the batch size (try 32)" in ended.message
    status = RunFolder(tmp_path / "run").status()
    assert status["reason"] == "out_of_memory" and status["status"] == "ended"


def test_the_running_status_names_its_process(small_shapes, tmp_path):
    run = TrainingRun(tiny_design(), _settings(epochs=1), tmp_path / "run", data=small_shapes)
    records = run.records()
    next(records)
    assert RunFolder(tmp_path / "run").status() == {**RunFolder(tmp_path / "run").status(), "status": "running",
                                                   "pid": os.getpid()}
    records.close()


def test_the_record_stream_carries_every_record_and_reads_only_what_was_added(small_shapes, tmp_path):
    import math

    from convstudio.core.training.record_stream import RecordStreamReader, RecordStreamWriter
    from convstudio.core.training.records import RunEnded, RunStarted

    run = TrainingRun(tiny_design(), _settings(epochs=1, state_every=2, early_stopping=False, mc_samples=2))
    records = list(run.records())
    stream = tmp_path / "records.jsonl"
    writer, reader = RecordStreamWriter(stream), RecordStreamReader(stream)
    assert reader.read_new() == []  # no file yet
    writer.write(records[0])
    assert reader.read_new() == [records[0]] and reader.read_new() == []
    for record in records[1:]:
        writer.write(record)
    with open(stream, "a") as partial:
        partial.write('{"type": "StepRecord", "step"')  # a line still being written waits
    again = reader.read_new()
    assert again == records[1:]  # equal dataclasses: layer statistics, optimizer state, confusion, dropout
    assert isinstance(again[-1], RunEnded) and isinstance(records[0], RunStarted)
    assert any(record.layer_stats for record in again if isinstance(record, StepRecord))
    writer.close()
    nan_stream = tmp_path / "nan.jsonl"
    writer = RecordStreamWriter(nan_stream)
    writer.write(StepRecord(1, 0, 0, 1, math.nan, 0.5, 0.1, 10.0))
    writer.close()
    assert "NaN" not in nan_stream.read_text()  # standard JSON: null
    read_back, = RecordStreamReader(nan_stream).read_new()
    assert math.isnan(read_back.loss) and read_back.accuracy == 0.5
