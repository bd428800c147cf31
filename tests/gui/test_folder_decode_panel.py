"""The training panel while a run's image folder decodes: a determinate bar of images, and Stop that cancels it.

The run trains on a thread here (the panel's worker takes ``backend="thread"``),
so that the test can slow the decoding down; the records are the ones the
child process sends in the app.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from convstudio.core.data import image_cache
from convstudio.core.training.design_settings import with_training
from convstudio.core.training.run_folder import RunFolder
from convstudio.core.training.settings import TrainingSettings
from design_helpers import tiny_design

IMAGES = 200
RUN_TIMEOUT_MS = 60_000


def write_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for label, name in enumerate(("dark", "light")):
        (root / name).mkdir(parents=True)
        for index in range(IMAGES // 2):
            pixels = (rng.integers(0, 120, (32, 32, 3)) + 120 * label).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{index:03d}.{'png' if index % 2 else 'jpg'}")
    return root


@pytest.fixture
def folder_window(make_window, tmp_path, monkeypatch):
    """A window whose design trains on a new folder of 200 images, its runs on a thread, decoding slowed down."""
    monkeypatch.setenv(image_cache.CACHE_ENV, str(tmp_path / "cache"))
    folder = write_folder(tmp_path / "photos")
    decode = image_cache.decode_image
    delay = {"seconds": 0.02}  # 200 images: about four seconds

    def slow(file, size):
        time.sleep(delay["seconds"])
        return decode(file, size)

    monkeypatch.setattr(image_cache, "decode_image", slow)
    settings = TrainingSettings(dataset=str(folder), epochs=1, batch_size=32, device="cpu")
    window = make_window(with_training(tiny_design(classes=2), settings))
    window.train_dock.raise_()
    window.train_panel.worker.backend = "thread"
    return window, folder, delay


def test_the_bar_counts_decoded_images_and_stop_cancels_the_decoding(qtbot, folder_window):
    window, folder, _ = folder_window
    panel = window.train_panel
    assert panel.start()
    qtbot.waitUntil(lambda: panel.progress.format().startswith("Decoding image folder: ")
                    and panel.progress.value() > 0, timeout=RUN_TIMEOUT_MS)
    assert panel.progress.maximum() > 0  # determinate, no longer the busy bar
    assert f"of {IMAGES} images" in panel.progress.format()
    assert str(folder) in panel.status.text() and "Stop cancels" in panel.status.text()

    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert "cancelling the image folder's decoding" in panel.status.text()
    stopped_at = time.monotonic()
    qtbot.waitUntil(lambda: not panel.running, timeout=RUN_TIMEOUT_MS)
    assert time.monotonic() - stopped_at < 2.0  # the decoding stopped within a chunk or two
    assert panel.status.text().startswith("Stopped by the user before training began")
    assert not panel.message.isVisible()  # a stop is not an error
    assert panel.progress_model is None and panel.start_button.isEnabled()
    assert panel.progress.format() == "Stopped before training"
    status = RunFolder(panel.run_dir).status()
    assert status["reason"] == "stopped" and status["epochs_completed"] == 0
    assert "before training began" in status["message"]
    assert [run.path for run in panel.runs.runs] == [panel.run_dir]  # listed, resumable from epoch 1


def test_a_decoded_folder_hands_the_bar_over_to_the_epochs(qtbot, folder_window):
    window, folder, delay = folder_window
    delay["seconds"] = 0.002
    panel = window.train_panel
    formats = []
    panel.worker.data_progress.connect(lambda record: formats.append(panel.progress.format()))
    assert panel.start()
    qtbot.waitUntil(lambda: not panel.running, timeout=RUN_TIMEOUT_MS)
    assert formats[0] == f"Decoding image folder: 0 of {IMAGES} images"
    assert formats[-1] == f"Image folder decoded: {IMAGES} images"
    assert RunFolder(panel.run_dir).status()["reason"] == "finished"
    assert panel.progress.format().startswith("Epoch 1/1")
