"""``auto`` precision and channels-last: the rule in core.training.fast_defaults, and the engine following it."""

from __future__ import annotations

import pytest
import torch

from convstudio.core.training import fast_defaults
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.fast_defaults import resolve
from convstudio.core.training.records import EndReason, RunStarted, StepRecord
from convstudio.core.training.settings import TrainingSettings
from design_helpers import tiny_design

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CPU = torch.device("cpu")


def test_explicit_choices_are_kept_and_auto_follows_the_cpu(monkeypatch):
    assert resolve("fp16", "on", CPU, 2) == ("fp16", True, None)
    assert resolve("fp32", "off", CPU, 2) == ("fp32", False, None)
    monkeypatch.setattr(fast_defaults, "native_bf16_cpu", lambda: False)
    precision, layout, note = resolve("auto", "auto", CPU, 2)
    assert (precision, layout) == ("fp32", fast_defaults.cpu_channels_last()) and "no bf16 instructions" in note
    monkeypatch.setattr(fast_defaults, "native_bf16_cpu", lambda: True)
    assert resolve("auto", "off", CPU, 2)[:2] == ("bf16", False)
    assert resolve("fp32", "on", CPU, 3)[1] is False  # channels-last is for 2-D images only
    assert resolve("fp32", "on", CPU, 2, "lbfgs")[1] is False  # L-BFGS views every gradient flat


def test_designs_saved_with_a_boolean_channels_last_still_load():
    assert TrainingSettings.model_validate({"channels_last": True}).channels_last == "on"
    assert TrainingSettings.model_validate({"channels_last": False}).channels_last == "off"
    assert TrainingSettings().precision == "auto" and TrainingSettings().channels_last == "auto"
    with pytest.raises(ValueError):
        TrainingSettings(channels_last="sideways")


def _train(precision: str, channels_last: str = "off") -> list:
    settings = TrainingSettings(dataset="shapes", data_limit=96, epochs=1, batch_size=16, device="cpu",
                                mc_samples=1, report_every=2, precision=precision, channels_last=channels_last)
    return list(TrainingRun(tiny_design(), settings).records())


def test_bf16_autocasts_on_the_cpu_and_auto_says_what_it_chose(monkeypatch):
    fp32 = _train("fp32")
    bf16 = _train("bf16", "on")
    assert bf16[-1].reason == EndReason.FINISHED
    fp32_losses = [r.loss for r in fp32 if isinstance(r, StepRecord)]
    bf16_losses = [r.loss for r in bf16 if isinstance(r, StepRecord)]
    assert bf16_losses != fp32_losses  # autocast is in effect on the CPU now
    assert bf16_losses == pytest.approx(fp32_losses, rel=0.05)
    monkeypatch.setattr(fast_defaults, "native_bf16_cpu", lambda: False)
    monkeypatch.setattr(fast_defaults, "cpu_channels_last", lambda: True)
    run = TrainingRun(tiny_design(), TrainingSettings(dataset="shapes", data_limit=96, epochs=1, batch_size=16,
                                                       device="cpu", mc_samples=1))
    started = next(r for r in run.records() if isinstance(r, RunStarted))
    assert "auto: fp32, channels-last" in started.device_reason
    kernel = next(p for p in run.prepared.model.parameters() if p.dim() == 4)
    assert kernel.is_contiguous(memory_format=torch.channels_last) and run.prepared.precision == "fp32"


def test_the_command_line_takes_auto_and_channels_last():
    from convstudio.core.cli import build_parser
    from convstudio.core.cli.options import training_overrides

    args = build_parser().parse_args(["train", "d.json", "--precision", "auto", "--channels-last", "on"])
    assert training_overrides(args) == {"precision": "auto", "channels_last": "on"}
