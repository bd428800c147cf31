"""bench/gpu_suite.py in quick mode on the CPU: every part runs and reports, so the GPU suite cannot rot.

The ``cuda`` tests part is left out here (``--skip tests``): those tests are
collected, and skip themselves, in this same test run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_quick_suite_runs_every_part_on_the_cpu(tmp_path):
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CONVSTUDIO_RUNS": str(tmp_path / "runs")}
    done = subprocess.run([sys.executable, "bench/gpu_suite.py", "--device", "cpu", "--quick", "--skip", "tests",
                           "--out", str(tmp_path / "results")],
                          cwd=ROOT, env=environment, capture_output=True, text=True, timeout=800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| part | what | figure | target | met |" in done.stdout
    written = list((tmp_path / "results").glob("gpu_suite-cpu-*.json"))
    assert len(written) == 1
    report = json.loads(written[0].read_text())
    assert report["quick"] is True and report["device"] == "cpu"
    parts = {row["part"] for row in report["rows"]}
    assert parts == {"throughput", "engine / bare loop", "on-device data / DataLoader", "app / headless",
                     "time to 90% validation accuracy"}
    assert not [row for row in report["rows"] if "failed" in row["figure"] or "skipped" in row["figure"]]
    throughput = report["details"]["throughput"]
    assert {"fp32", "fp32 channels-last", "bf16", "bf16 channels-last", "fp32 compiled"} <= set(throughput)
    assert all(entry["images_per_second"] > 0 for entry in throughput.values())
    assert report["details"]["engine_vs_bare"]["engine"][0] > 0
    assert report["details"]["app_vs_headless"]["app"] > 0
