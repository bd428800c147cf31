"""The app's Training dock trains on the GPU: the worker process picks CUDA, the charts fill, results show.

Marked ``cuda`` (bench/gpu_suite.py runs it) and skipped without a GPU; offscreen like every GUI test.
"""

from __future__ import annotations

import multiprocessing

import pytest
from PySide6.QtCore import Qt

from convstudio.core.design import Design
from convstudio.core.training.design_settings import with_training
from convstudio.core.training.settings import TrainingSettings


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not _cuda_available(), reason="needs a CUDA GPU")]


def gpu_design() -> Design:
    design = Design.model_validate({
        "name": "gpu worker test", "input": {"channels": 3, "height": 32, "width": 32},
        "layers": [
            {"kind": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
            {"kind": "batchnorm"},
            {"kind": "maxpool2d", "kernel_size": 4},
            {"kind": "flatten"},
            {"kind": "dropout", "p": 0.2},
            {"kind": "linear", "out_features": 10, "activation": "none"},
        ],
    })
    settings = TrainingSettings(dataset="shapes", data_limit=600, epochs=2, batch_size=32, device="cuda",
                                mc_samples=2, report_every=2, precision="auto", channels_last="auto")
    return with_training(design, settings)


def test_the_worker_process_trains_on_cuda_with_live_charts(qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("CONVSTUDIO_DATA", str(tmp_path / "data"))
    window = make_window(gpu_design())
    window.train_dock.raise_()
    panel = window.train_panel
    assert panel.worker.backend == "process"
    started = []
    panel.worker.started.connect(started.append)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(panel.curves.loss) > 0, timeout=120_000)
    qtbot.waitUntil(lambda: not panel.running, timeout=120_000)
    assert not panel.message.isVisible(), panel.message.text()
    assert started and started[0].device.startswith("cuda")
    runs = panel.runs.runs
    assert len(runs) == 1 and runs[0].reason == "finished" and runs[0].epochs_done == 2
    assert panel.results.results is not None and panel.results.results.reason == "finished"
    assert multiprocessing.active_children() == []
