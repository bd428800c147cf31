"""Several processes from the app: torchrun started as a QProcess, and the cluster command."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QGuiApplication

from convstudio.core.design import Design
from convstudio.core.training.run_folder import RunFolder
from convstudio.gui.training.scale_out import ScaleOutActions

_TINY = Design.model_validate({
    "name": "tiny",
    "input": {"channels": 3, "height": 32, "width": 32},
    "layers": [{"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
               {"kind": "maxpool2d", "kernel_size": 4}, {"kind": "flatten"},
               {"kind": "linear", "out_features": 10, "activation": "none"}],
    "training": {"epochs": 1, "data_limit": 200, "batch_size": 16, "mc_samples": 1},
})


def _scale_out(window) -> ScaleOutActions:
    actions = window.findChild(ScaleOutActions)
    assert actions is not None
    return actions


def test_local_gpus_entry_is_disabled_without_several_gpus(window):
    action = window.findChild(type(window.menuBar().actions()[0]), "actionRunLocalGpus")
    assert action is not None
    menu = next(a.menu() for a in window.menuBar().actions() if a.menu() and action in a.menu().actions())
    menu.aboutToShow.emit()  # the GPUs are counted when the menu opens, not while the window starts
    count = _scale_out(window).gpu_count
    assert action.isEnabled() == (count > 1)
    assert action.text() == f"Run on {max(count, 2)} local GPUs (torchrun)"


def test_cluster_command_goes_to_the_clipboard(make_window):
    window = make_window(_TINY)
    line = _scale_out(window).copy_cluster_command()
    assert QGuiApplication.clipboard().text() == line
    assert "--nnodes=2" in line and "--rdzv-endpoint=HOST:29500" in line and "-m convstudio train" in line
    assert "--dataset shapes" in line


@pytest.mark.slow
def test_torchrun_as_a_child_process_fills_the_charts(make_window, qtbot):
    """Two CPU processes (Gloo) stand in for two GPUs: the same path the GPU entry takes."""
    window = make_window(_TINY)
    actions = _scale_out(window)
    assert actions.run_local(nproc=2, device="cpu")
    qtbot.waitUntil(lambda: actions.process is None, timeout=240_000)
    metrics = RunFolder(actions.run_dir).read_lines("metrics.jsonl")
    assert [row["epoch"] for row in metrics] == [1], actions.output[-2000:]
    assert len(window.train_panel.curves.loss) > 0


def test_the_multi_gpu_mode_streams_records_into_the_charts_and_stops_cleanly(make_window, qtbot, monkeypatch):
    """The app's side of torchrun: a plain ``convstudio train`` child stands in for torchrun's rank 0."""
    import json
    import sys

    import convstudio.gui.training.scale_out as scale_out_module

    monkeypatch.setattr(scale_out_module, "torchrun_command",
                        lambda nproc, arguments, **_: [sys.executable, "-m", "convstudio", "train", *arguments])
    design = _TINY.model_copy(update={"training": {"epochs": 40, "data_limit": 300, "batch_size": 8,
                                                   "mc_samples": 1, "state_every": 2, "report_every": 2}})
    window = make_window(design)
    panel = window.train_panel
    actions = _scale_out(window)
    assert actions.run_local(nproc=2, device="cpu")
    assert panel.running and not panel.start_button.isEnabled() and not panel.pause_button.isEnabled()
    assert not panel.start()  # Start is refused while torchrun's run goes

    # Steps with their layer statistics and the first epoch arrive incrementally; the tab stays on the charts.
    qtbot.waitUntil(lambda: len(panel.curves.val_loss) >= 1, timeout=120_000)
    assert len(panel.curves.loss) > 0 and panel.curves.grad_norm and panel.curves.optimizer_state
    assert panel.tabs.currentWidget() is panel.charts
    stream_file = actions.stream.path
    assert stream_file.is_file()

    panel.stop()  # SIGTERM, as torchrun passes it on
    qtbot.waitUntil(lambda: not actions.running, timeout=120_000)
    status = json.loads((actions.run_dir / "run.json").read_text())
    assert status["reason"] == "stopped" and "SIGTERM" in status["message"], actions.output[-2000:]
    assert panel.start_button.isEnabled() and not panel.running
    assert "Stopped the" in panel.message.text()
    assert not stream_file.exists()
