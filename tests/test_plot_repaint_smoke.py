"""A live plot survives hundreds of repaints.

PySide6 6.12.0 with pyqtgraph 0.14.0 aborts the interpreter ("Fatal Python
error: none_dealloc") inside pyqtgraph's AxisItem painting after a few hundred
repaints; ``pyproject.toml`` pins PySide6 below 6.12 for that reason. This test
catches a release that brings the crash back. An abort would take pytest down
with it, so the repaints run in a child pytest process (with pytest-qt's
``qtbot``) and the parent reports its exit status and stderr as a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_CHILD = "CONVSTUDIO_REPAINT_SMOKE_CHILD"
REPAINTS = 400


@pytest.mark.skipif(os.environ.get(_CHILD) != "1", reason="runs in a child process started by the test below")
def test_repaints_in_this_process(qtbot):
    import numpy as np
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    widget = pg.PlotWidget(title="loss")
    qtbot.addWidget(widget)
    widget.resize(480, 320)
    widget.show()
    plot = widget.getPlotItem()
    plot.setLabel("bottom", "step")
    plot.setLabel("left", "loss")
    plot.showGrid(x=True, y=True)
    plot.setDownsampling(auto=True, mode="peak")
    plot.setClipToView(True)
    plot.addLegend()
    train = plot.plot(pen="y", name="train")
    test = plot.plot(pen="c", name="test")

    steps = np.arange(REPAINTS * 5, dtype=float)
    loss = 2.3 * np.exp(-steps / 500) + 0.05 * np.sin(steps / 7)
    for i in range(1, REPAINTS + 1):
        n = 5 * i  # growing data: the axes rescale and re-render their tick labels
        train.setData(steps[:n], loss[:n])
        test.setData(steps[: n : 10], loss[: n : 10] + 0.1)
        widget.repaint()
        if i % 20 == 0:
            assert not widget.grab().isNull()
        QApplication.processEvents()
    x, _ = train.getData()
    assert x is not None and x[-1] == steps[REPAINTS * 5 - 1]


@pytest.mark.slow
def test_live_plot_survives_hundreds_of_repaints():
    env = {**os.environ, _CHILD: "1", "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
           "PYTHONFAULTHANDLER": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", f"{Path(__file__).resolve()}::test_repaints_in_this_process",
         "-q", "-p", "no:cacheprovider", "-o", "addopts="],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=240,
    )
    report = f"exit status {result.returncode}\n--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-8000:]}"
    assert "Fatal Python error" not in result.stderr, report
    assert result.returncode == 0, report
    assert "1 passed" in result.stdout, report
