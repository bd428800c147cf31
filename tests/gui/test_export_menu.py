"""File > Export in the app: the open design and a trained run, written off the GUI thread."""

from __future__ import annotations

import importlib.util

import torch

from convstudio.core.design import Design
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.settings import TrainingSettings
from convstudio.gui.shell.export_menu import ExportActions

_TINY = Design.model_validate({
    "name": "tiny",
    "input": {"channels": 3, "height": 32, "width": 32},
    "layers": [{"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
               {"kind": "maxpool2d", "kernel_size": 4}, {"kind": "flatten"},
               {"kind": "linear", "out_features": 10, "activation": "none"}],
})


def _actions(window) -> ExportActions:
    actions = window.findChild(ExportActions)
    assert actions is not None
    assert window.findChild(type(window.menuBar().actions()[0].menu()), "menuExport") is not None
    return actions


def test_the_open_design_exports_as_pytorch_source(make_window, qtbot, tmp_path):
    window = make_window(_TINY)
    actions = _actions(window)
    window.dialogs.save_paths.append(str(tmp_path / "tiny.py"))
    window.findChild(type(window.menuBar().actions()[0]), "actionExport_py").trigger()
    qtbot.waitUntil(lambda: (tmp_path / "tiny.py").exists() and bool(actions.last_message), timeout=30_000)
    assert "untrained" in actions.last_message
    spec = importlib.util.spec_from_file_location("tiny_export", tmp_path / "tiny.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


def test_a_trained_run_exports_its_weights(make_window, qtbot, tmp_path):
    run_dir = tmp_path / "run"
    TrainingRun(_TINY, TrainingSettings(epochs=1, data_limit=200, batch_size=32, mc_samples=1), run_dir).run()
    window = make_window(_TINY)
    actions = _actions(window)
    assert actions.export_run(str(run_dir), "py", str(tmp_path / "trained.py"))
    qtbot.waitUntil(lambda: (tmp_path / "trained.pt").exists() and bool(actions.last_message), timeout=30_000)
    weights = torch.load(tmp_path / "trained.pt", weights_only=True)
    best = torch.load(run_dir / "best.pt", weights_only=True)["model"]
    assert torch.equal(weights["conv1.weight"], best["conv1.weight"])
    assert "untrained" not in actions.last_message


def test_an_impossible_design_or_a_run_without_weights_is_refused_with_a_message(make_window, tmp_path):
    impossible = _TINY.model_copy(deep=True)
    impossible.layers[0] = impossible.layers[0].model_copy(update={"kernel_size": 40})
    window = make_window(impossible)
    actions = _actions(window)
    assert not actions.export_design("py", str(tmp_path / "x.py"))
    assert "layer 1 (conv2d)" in window.dialogs.warnings[-1][1]
    (tmp_path / "empty-run").mkdir()
    assert not actions.export_run(str(tmp_path / "empty-run"), "onnx", str(tmp_path / "x.onnx"))
    assert window.dialogs.warnings[-1][0] == "Cannot export"
