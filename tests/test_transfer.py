"""Transfer learning: partial loading with a new head, freezing, and fine-tuning beating scratch."""

from __future__ import annotations

import pytest
import torch

from convstudio.core.builder import build_model
from convstudio.core.data import load_dataset
from convstudio.core.design import Design
from convstudio.core.naming import layer_names
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.finetune import compare_finetune_vs_scratch
from convstudio.core.training.records import EndReason, RunEnded, RunStarted
from convstudio.core.training.settings import TrainingSettings
from convstudio.core.training.setup import TrainingSetupError
from convstudio.core.training.transfer import class_subset, load_matching_weights, read_source_weights


def _design(classes: int) -> Design:
    return Design.model_validate({
        "input": {"channels": 3, "height": 32, "width": 32},
        "layers": [
            {"kind": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
            {"kind": "batchnorm"},
            {"kind": "maxpool2d", "kernel_size": 2},
            {"kind": "conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1},
            {"kind": "batchnorm"},
            {"kind": "maxpool2d", "kernel_size": 4},
            {"kind": "flatten"},
            {"kind": "linear", "out_features": classes, "activation": "none"},
        ],
    })


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A run on the built-in dataset (dataset A), trained once for this module."""
    run_dir = tmp_path_factory.mktemp("runs") / "pretrained"
    data = load_dataset("shapes", limit=3000, seed=1)
    settings = TrainingSettings(epochs=3, batch_size=64, learning_rate=3e-3, mc_samples=1)
    ended = TrainingRun(_design(10), settings, run_dir, data=data).run()
    assert ended.reason == EndReason.FINISHED
    return run_dir


def test_partial_loading_lists_loaded_and_skipped_layers(pretrained):
    model = build_model(_design(4), seed=5)
    head_before = model.fc1.weight.detach().clone()
    weights = read_source_weights(pretrained)
    report = load_matching_weights(model, layer_names(_design(4).layers), weights, str(pretrained))
    assert report.loaded_layers == ["conv1", "bn1", "conv2", "bn2"]
    (skipped,) = report.skipped_layers
    assert skipped.layer == "fc1" and "10x512 in the source but 4x512 here" in skipped.reason
    assert torch.equal(model.conv1.weight, weights["conv1.weight"])
    assert torch.equal(model.fc1.weight, head_before)
    assert "fc1: skipped" in report.summary()


def test_frozen_layers_are_bit_identical_after_training(pretrained, tmp_path):
    data = class_subset(load_dataset("shapes", limit=1500, seed=2), [0, 1, 2, 3], per_class=40)
    settings = TrainingSettings(epochs=2, batch_size=32, learning_rate=3e-3, init_from=str(pretrained),
                                freeze_through="bn1", l2_penalty=1e-3, mc_samples=1)
    run = TrainingRun(_design(4), settings, tmp_path / "ft", data=data)
    records = list(run.records())
    started = records[0]
    assert isinstance(started, RunStarted) and started.frozen_layers == ("conv1", "bn1")
    assert "fc1: skipped" in started.transfer_summary
    source = read_source_weights(pretrained)
    trained = run.prepared.model.state_dict()
    for key in ("conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"):
        assert torch.equal(trained[key], source[key]), key
    assert not torch.equal(trained["conv2.weight"], source["conv2.weight"])


def test_unfreezing_later_lets_frozen_layers_train(pretrained):
    data = class_subset(load_dataset("shapes", limit=1500, seed=2), [0, 1, 2, 3], per_class=30)
    settings = TrainingSettings(epochs=2, batch_size=32, init_from=str(pretrained), freeze=["conv1"],
                                unfreeze_at_epoch=2, mc_samples=1)
    run = TrainingRun(_design(4), settings, data=data)
    list(run.records())
    assert not torch.equal(run.prepared.model.conv1.weight, read_source_weights(pretrained)["conv1.weight"])


def test_a_source_that_fits_nothing_or_unknown_layers_are_refused(pretrained, tmp_path):
    data = class_subset(load_dataset("shapes", limit=600, seed=2), [0, 1, 2, 3], per_class=10)
    unrelated = Design.model_validate({"input": {"channels": 3, "height": 32, "width": 32},
                                       "layers": [{"kind": "flatten"},
                                                  {"kind": "linear", "out_features": 4, "activation": "none"}]})
    with pytest.raises(TrainingSetupError, match="no layer matches"):
        list(TrainingRun(unrelated, TrainingSettings(init_from=str(pretrained)), data=data).records())
    with pytest.raises(TrainingSetupError, match="cannot freeze 'conv9'"):
        list(TrainingRun(_design(4), TrainingSettings(freeze=["conv9"]), data=data).records())
    with pytest.raises(TrainingSetupError, match="no such run folder"):
        list(TrainingRun(_design(4), TrainingSettings(init_from=str(tmp_path / "nope")), data=data).records())


def test_fine_tuning_beats_training_from_scratch_on_a_small_subset(pretrained, tmp_path):
    """The lecture's claim: train on A, fine-tune on a smaller B with other classes."""
    data = class_subset(load_dataset("shapes", limit=3000, seed=3), [5, 6, 7, 8, 9], per_class=12, seed=3)
    settings = TrainingSettings(epochs=6, batch_size=20, learning_rate=3e-3, mc_samples=1, seed=4)
    comparison = compare_finetune_vs_scratch(_design(5), settings, pretrained, data=data, runs_root=tmp_path)
    finetuned, scratch = comparison.finetuned, comparison.scratch
    assert isinstance(finetuned.ended, RunEnded) and finetuned.ended.reason == EndReason.FINISHED
    assert finetuned.ended.test_accuracy > scratch.ended.test_accuracy + 0.05, (
        finetuned.ended.test_accuracy, scratch.ended.test_accuracy)
    assert (tmp_path / "fine-tuned" / "metrics.jsonl").exists()
