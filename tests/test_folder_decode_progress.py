"""An image folder's first decoding before a run: progress that reaches whoever watches, and a stop that cancels it.

The app's training job sends :class:`DataProgress` records while the folder
decodes and a Stop ends the run before training (run.json says so); the
command line draws a throttled progress line (a summary line off a terminal)
and Ctrl-C cancels the decoding with exit status 130.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convstudio.core.cli.main import main as cli_main
from convstudio.core.cli.train import _DecodeProgress
from convstudio.core.data import image_cache
from convstudio.core.design import save_design
from convstudio.core.jobs import BackgroundJob, JobExited
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.records import EndReason, RunEnded, RunStarted
from convstudio.core.training.run_folder import RunFolder
from convstudio.core.training.settings import TrainingSettings
from convstudio.core.training.worker_process import DataProgress, RunRequest, train_job
from design_helpers import tiny_design

pytestmark = pytest.mark.usefixtures("one_torch_thread")
IMAGES = 200  # below image_cache's pool threshold: decoded in this process, so a test can slow it down


def write_folder(root: Path, per_class: int = IMAGES // 2) -> Path:
    """Two classes of 32x32 images, PNG and JPEG mixed: dark and light noise."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(("dark", "light")):
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            pixels = (rng.integers(0, 120, (32, 32, 3)) + 120 * label).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{index:03d}.{'png' if index % 2 else 'jpg'}")
    return root


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(image_cache.CACHE_ENV, str(tmp_path / "cache"))  # every test decodes afresh
    return write_folder(tmp_path / "photos")


def slow_decoding(monkeypatch, seconds: float = 0.01, on_call=None) -> None:
    """Make every image take ``seconds`` to decode (the folder then decodes for about two seconds)."""
    decode = image_cache.decode_image
    calls = [0]

    def slow(file, size):
        calls[0] += 1
        if on_call is not None:
            on_call(calls[0])
        time.sleep(seconds)
        return decode(file, size)

    monkeypatch.setattr(image_cache, "decode_image", slow)


def settings_for(folder: Path, **changes) -> TrainingSettings:
    return TrainingSettings(dataset=str(folder), epochs=1, batch_size=32, device="cpu", **changes)


def run_job_to_end(request: RunRequest, stop_when=None, timeout: float = 60.0) -> list:
    """Run the app's training job on a thread; ``stop_when(item)`` True presses Stop. Returns every item."""
    job = BackgroundJob(train_job, (request,), "thread")
    job.start()
    items: list = []
    deadline = time.monotonic() + timeout
    while not items or not isinstance(items[-1], JobExited):
        assert time.monotonic() < deadline, f"the job did not end; it sent {items[-5:]}"
        for item in job.receive():
            items.append(item)
            if stop_when is not None and stop_when(item):
                job.stop()
        time.sleep(0.01)
    return items


def test_the_training_job_reports_the_decoding_then_trains(folder, tmp_path):
    design = tiny_design(classes=2)
    run_dir = tmp_path / "run"
    items = run_job_to_end(RunRequest(str(run_dir), design.to_json(), settings_for(folder).model_dump_json()))
    reports = [item for item in items if isinstance(item, DataProgress)]
    started = next(index for index, item in enumerate(items) if isinstance(item, RunStarted))
    assert reports and all(items.index(report) < started for report in reports)  # all before the first batch
    assert reports[0] == DataProgress(0, IMAGES, str(folder))
    assert reports[-1] == DataProgress(IMAGES, IMAGES, str(folder))
    assert [report.done for report in reports] == sorted(report.done for report in reports)
    assert pickle.loads(pickle.dumps(reports[1])) == reports[1]  # plain data: it crosses to the app's process
    ended = next(item for item in items if isinstance(item, RunEnded))
    assert ended.reason == EndReason.FINISHED and RunFolder(run_dir).status()["reason"] == "finished"


def test_stop_while_the_folder_decodes_ends_the_run_before_training(folder, tmp_path, monkeypatch):
    slow_decoding(monkeypatch)
    design = tiny_design(classes=2)
    run_dir = tmp_path / "run"
    started = time.monotonic()
    items = run_job_to_end(RunRequest(str(run_dir), design.to_json(), settings_for(folder).model_dump_json()),
                           stop_when=lambda item: isinstance(item, DataProgress) and item.done > 0)
    assert time.monotonic() - started < IMAGES * 0.01  # cancelled well before the folder was decoded
    assert not any(isinstance(item, RunStarted) for item in items)
    reports = [item for item in items if isinstance(item, DataProgress)]
    assert reports[-1].done < IMAGES
    ended = next(item for item in items if isinstance(item, RunEnded))
    assert ended.reason == EndReason.STOPPED and ended.epochs_completed == 0 and ended.test_accuracy is None
    assert "before training began" in ended.message and f"of {IMAGES} images" in ended.message
    status = RunFolder(run_dir).status()
    assert status["status"] == "ended" and status["reason"] == "stopped" and status["epochs_completed"] == 0
    assert "before training began" in status["message"] and "resume starts at epoch 1" in status["message"]
    assert not (run_dir / "results.json").exists() and not (run_dir / "checkpoint.pt").exists()
    cache = Path(os.environ[image_cache.CACHE_ENV])
    assert not cache.exists() or not any(cache.iterdir())  # no half-decoded cache is left


def test_cli_progress_line_is_throttled_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    now = [0.0]
    stream = Terminal()
    progress = _DecodeProgress(stream, clock=lambda: now[0])
    progress.folder = "photos"
    for done in range(0, 1001, 10):  # 101 reports over 2 seconds
        progress(done, 1000)
        now[0] += 0.02
    progress.finish()
    lines = stream.getvalue().split("\r")[1:]
    drawn = [line for line in lines if line.startswith("decoding")]
    assert 2 <= len(drawn) <= 2 / _DecodeProgress.INTERVAL_S + 2  # a few a second, and the last one
    assert drawn[0].startswith("decoding image folder photos: 0 of 1,000 images (0%)")
    assert drawn[-1].startswith("decoding image folder photos: 1,000 of 1,000 images (100%)")
    assert lines[-1].startswith("decoded image folder photos: 1,000 images in 2.0 s") and lines[-1].endswith("\n")


def test_cli_progress_off_a_terminal_is_one_summary_line_and_silent_for_a_decoded_folder():
    stream = io.StringIO()  # a log file: no redrawn line
    progress = _DecodeProgress(stream, clock=lambda: 0.0)
    progress.folder = "photos"
    for done in (0, 40, 80):
        progress(done, 200)
    progress.finish()
    progress.finish()
    assert stream.getvalue() == "decoding image folder photos cancelled after 80 of 200 images\n"

    opened = io.StringIO()
    cached = _DecodeProgress(opened)
    cached.folder = "photos"
    cached(200, 200)  # found decoded: the cache opens at once
    cached.finish()
    assert opened.getvalue() == ""


def test_ctrl_c_while_the_folder_decodes_cancels_it_exits_130_and_the_run_resumes(folder, tmp_path, monkeypatch,
                                                                                  capsys):
    design_file = tmp_path / "tiny.json"
    save_design(tiny_design(classes=2), design_file)
    run_dir = tmp_path / "run"
    handler_before = signal.getsignal(signal.SIGINT)

    def press_ctrl_c(call: int) -> None:
        if call == 40:  # a few chunks in
            os.kill(os.getpid(), signal.SIGINT)

    slow_decoding(monkeypatch, 0.005, press_ctrl_c)
    status = cli_main(["train", str(design_file), "--dataset", str(folder), "--epochs", "1", "--batch-size", "32",
                       "--device", "cpu", "--out", str(run_dir)])
    out, err = capsys.readouterr()
    assert status == 130, err
    assert "SIGINT: stopping before training begins" in err
    assert f"decoding image folder {folder} cancelled after" in err and f"of {IMAGES} images" in err
    assert "Traceback" not in err and "epoch 1:" not in out
    assert out.startswith("stopped: stopped by SIGINT before training began")
    assert f"resume with: convstudio train --resume {run_dir}" in err
    run_status = json.loads((run_dir / "run.json").read_text())
    assert run_status["reason"] == "stopped" and run_status["epochs_completed"] == 0
    assert signal.getsignal(signal.SIGINT) is handler_before  # the CLI put Ctrl-C's handler back

    monkeypatch.undo()  # decode at full speed; the same cache folder is still set
    monkeypatch.setenv(image_cache.CACHE_ENV, str(tmp_path / "cache"))
    ended = TrainingRun(None, None, run_dir, resume=True).run()
    assert ended.reason == EndReason.FINISHED and ended.epochs_completed == 1
