"""The ``compile`` setting: training through torch.compile, its time reported as compile time, and the fallback.

Inductor's C++ code generation takes minutes on a busy two-core machine, so these
tests compile with the ``aot_eager`` backend (TorchDynamo's graph capture and
AOTAutograd, no code generation): the same capture and guards a GPU run goes
through. A GPU run with inductor is in bench/gpu_suite.py and the ``cuda`` tests.
"""

from __future__ import annotations

import json
import time

import pytest
import torch

from convstudio.core.training import compiled
from convstudio.core.training.compiled import CompiledForward
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.records import CompileReport, EndReason, RunEnded, StepRecord
from convstudio.core.training.settings import TrainingSettings
from design_helpers import tiny_design

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SETTINGS = dict(dataset="shapes", data_limit=160, epochs=2, batch_size=16, device="cpu", mc_samples=1,
                report_every=2, optimizer="sgd", learning_rate=0.05)


def train(run_dir=None, **changes) -> list:
    return list(TrainingRun(tiny_design(), TrainingSettings(**{**SETTINGS, **changes}), run_dir).records())


def losses(records) -> list[float]:
    return [record.loss for record in records if isinstance(record, StepRecord)]


def aot_eager(forward):
    return torch.compile(forward, backend="aot_eager")


def test_compiled_training_matches_eager_and_reports_its_compile_time(tmp_path, monkeypatch):
    monkeypatch.setattr(compiled, "compile_forward", aot_eager)
    eager = train()
    records = train(tmp_path / "run", compile=True)
    assert records[-1].reason == EndReason.FINISHED
    reports = [record for record in records if isinstance(record, CompileReport)]
    assert len(reports) == 1 and reports[0].compiled and reports[0].seconds > 0
    assert "compiling" in reports[0].message
    assert losses(records) == pytest.approx(losses(eager), rel=1e-4, abs=1e-5)
    saved = json.loads((tmp_path / "run" / "compile.json").read_text())
    assert saved["compiled"] is True and saved["seconds"] >= reports[0].seconds


def test_a_failing_compiler_leaves_an_eager_run_that_says_why(tmp_path, monkeypatch):
    def broken_compiler(forward):
        def compiled_forward(images):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")
        return compiled_forward

    monkeypatch.setattr(compiled, "compile_forward", broken_compiler)
    eager = train()
    records = train(tmp_path / "run", compile=True)
    assert isinstance(records[-1], RunEnded) and records[-1].reason == EndReason.FINISHED
    report = next(record for record in records if isinstance(record, CompileReport))
    assert not report.compiled
    assert "training continues uncompiled" in report.message and "No working C++ compiler" in report.message
    assert losses(records) == losses(eager)  # the failed step ran again eagerly: nothing was lost
    assert json.loads((tmp_path / "run" / "compile.json").read_text())["compiled"] is False


def test_compile_time_is_kept_out_of_the_training_speed(monkeypatch):
    pause = 0.6

    def slow_compiler(forward):
        first = []

        def compiled_forward(images):
            if not first:
                first.append(True)
                time.sleep(pause)  # stands for seconds of compilation on the first step
            return forward(images)
        return compiled_forward

    monkeypatch.setattr(compiled, "compile_forward", slow_compiler)
    records = train(compile=True, epochs=1)
    report = next(record for record in records if isinstance(record, CompileReport))
    assert report.seconds >= pause
    first = next(record for record in records if isinstance(record, StepRecord))
    # Counted as training, the sleep alone would hold the first report's speed under this:
    assert first.images_per_second > 2 * SETTINGS["batch_size"] * SETTINGS["report_every"] / pause


def test_compiled_forward_times_only_steps_that_compile():
    calls = []
    forward = CompiledForward(lambda images: images * 2, compile_function=lambda f: (lambda x: calls.append(1) or f(x)))
    forward(torch.ones(4, 3))
    assert forward.step_done() > 0 and forward.compiled_steps == 1
    forward(torch.ones(4, 3))
    assert forward.step_done() == 0.0  # a shape it has seen: no compilation
    forward(torch.ones(2, 3))  # the short last batch of an epoch compiles again
    assert forward.step_done() > 0 and forward.compiled_steps == 2 and len(calls) == 3


def test_the_command_line_and_settings_take_compile(monkeypatch, tmp_path, capsys):
    from convstudio.core.cli import main
    from convstudio.core.design import save_design

    monkeypatch.setattr(compiled, "compile_forward", aot_eager)
    design_file = tmp_path / "tiny.json"
    save_design(tiny_design(), design_file)
    status = main(["train", str(design_file), "--compile", "--dataset", "shapes", "--limit", "80", "--epochs", "1",
                   "--batch-size", "16", "--device", "cpu", "--mc-samples", "1", "--out", str(tmp_path / "run")])
    assert status == 0
    assert "torch.compile:" in capsys.readouterr().err
    assert json.loads((tmp_path / "run" / "settings.json").read_text())["compile"] is True
