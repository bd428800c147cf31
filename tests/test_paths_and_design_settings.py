"""Decisions the command line and the app share, each made once in core: where runs and data go,
which dataset a design gets, how a design's settings are read, which optimizer state is reported."""

from __future__ import annotations

import sys

import pytest
import torch

from convstudio.core.data.on_disk import REQUIRED_FILES
from convstudio.core.design import Design
from convstudio.core.paths import app_data_dir, default_runs_root, user_data_home
from convstudio.core.training.design_settings import default_dataset, saved_settings, settings_of, with_training
from convstudio.core.training.optimizer_names import state_names
from convstudio.core.training.records import EndReason, end_reason_label, ended_as_planned
from convstudio.core.training.settings import TrainingSettings


def _design(channels: int = 3, size: int = 32, training: dict | None = None) -> Design:
    return Design.model_validate({
        "name": "paths test",
        "input": {"channels": channels, "height": size, "width": size},
        "layers": [{"kind": "flatten"}, {"kind": "linear", "out_features": 10, "activation": "none"}],
        "training": training,
    })


def test_runs_root_env_then_chosen_then_the_apps_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVSTUDIO_RUNS", str(tmp_path / "env"))
    assert default_runs_root(tmp_path / "chosen") == tmp_path / "env"
    monkeypatch.delenv("CONVSTUDIO_RUNS")
    assert default_runs_root(tmp_path / "chosen") == tmp_path / "chosen"
    assert default_runs_root() == app_data_dir() / "runs"


def test_app_data_dir_per_platform_is_qts_app_data_location(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert app_data_dir() == tmp_path / "xdg" / "ConvStudio" / "ConvStudio"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    assert user_data_home() == tmp_path / "home" / ".local" / "share"
    assert app_data_dir() == tmp_path / "home" / ".local" / "share" / "ConvStudio" / "ConvStudio"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert app_data_dir() == tmp_path / "home" / "Library" / "Application Support" / "ConvStudio" / "ConvStudio"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path / "roaming"))
    assert app_data_dir() == tmp_path / "roaming" / "ConvStudio" / "ConvStudio"


def test_default_dataset_the_app_prefers_cifar10_on_disk_the_cli_never(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVSTUDIO_DATA", str(tmp_path))
    assert default_dataset(_design(), prefer_downloaded=True) == "shapes"  # not downloaded
    for name in REQUIRED_FILES["cifar10"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert default_dataset(_design(), prefer_downloaded=True) == "cifar10"
    assert default_dataset(_design(), prefer_downloaded=False) == "shapes"
    assert default_dataset(_design(channels=1, size=28), prefer_downloaded=True) == "shapes"
    assert settings_of(_design())[0].dataset == "cifar10"  # the app
    assert saved_settings(_design()).dataset == "shapes"  # the command line
    assert saved_settings(_design(training={"dataset": "mnist"}), prefer_downloaded=True).dataset == "mnist"


def test_saved_settings_with_overrides_and_the_apps_fallback():
    design = with_training(_design(), TrainingSettings(epochs=4, augmentation={"flip": True}))
    assert design.training == {"dataset": "shapes", "epochs": 4, "augmentation": {"flip": True}}
    settings = saved_settings(design, {"learning_rate": 0.1, "augmentation": {"rotate_degrees": 5.0}})
    assert settings.epochs == 4 and settings.learning_rate == 0.1
    assert settings.augmentation.flip and settings.augmentation.rotate_degrees == 5.0
    broken = _design(training={"dataset": "mnist", "epochs": -3})
    with pytest.raises(ValueError, match="epochs"):
        saved_settings(broken)
    shown, problem = settings_of(broken)
    assert shown == TrainingSettings(dataset="mnist") and "epochs" in problem and "showing defaults" in problem


def test_end_reason_words():
    assert [reason.label for reason in EndReason] == [
        "finished", "stopped", "early stop", "diverged", "out of memory", "failed"]
    assert [reason for reason in EndReason if reason.completed] == [EndReason.FINISHED, EndReason.EARLY_STOPPING]
    assert [reason for reason in EndReason if reason.failed] == [
        EndReason.NON_FINITE_LOSS, EndReason.OUT_OF_MEMORY, EndReason.ERROR]
    assert end_reason_label("non_finite_loss") == "diverged" and end_reason_label("") == "unknown"
    assert ended_as_planned("early_stopping") and not ended_as_planned("loaded")


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "adagrad", "sgd", "lbfgs"])
def test_the_charts_names_are_what_the_engine_reports(optimizer):
    from convstudio.core.builder import build_model
    from convstudio.core.naming import layer_names
    from convstudio.core.training.optimizer_state import ParameterIndex, collect_stats
    from convstudio.core.training.optimizers import make_optimizer

    design = _design(channels=1, size=2)
    model = build_model(design, seed=0)
    settings = TrainingSettings(optimizer=optimizer, momentum=0.9)
    opt = make_optimizer(model, settings)
    index = ParameterIndex.from_model(model, layer_names(design.layers))
    images, labels = torch.randn(4, 1, 2, 2), torch.tensor([0, 1, 2, 3])

    def loss():
        opt.zero_grad()
        value = torch.nn.functional.cross_entropy(model.logits(images), labels)
        value.backward()
        return value

    before = [p.detach().clone() for p in index.params]
    if optimizer == "lbfgs":
        opt.step(loss)  # L-BFGS evaluates the loss itself
    else:
        loss()
        opt.step()
    _, states = collect_stats(opt, index, before).materialise()
    assert tuple(states[0].values) == state_names(optimizer)
