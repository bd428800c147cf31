"""The learning-rate range test: its suggestion, its early stop, the caller's model untouched, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convstudio.core.cli import main
from convstudio.core.data.datasets import DatasetSplits
from convstudio.core.design import Design, save_design
from convstudio.core.experiments.lr_finder import (
    LrFinderError, find_learning_rate, rate_schedule, smooth_losses, suggest_rates,
)
from convstudio.core.builder import build_model
from convstudio.core.training.settings import TrainingSettings
from design_helpers import tiny_design

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def separable_data(n_train: int = 600) -> DatasetSplits:
    """Two classes told apart by the mean of the red channel: logistic regression learns them at rates 1e-3..1."""
    generator = torch.Generator().manual_seed(0)

    def split(n):
        labels = torch.randint(0, 2, (n,), generator=generator)
        images = torch.randint(60, 200, (n, 3, 8, 8), generator=generator)
        images[:, 0] += (labels * 40 - 20)[:, None, None]
        return images.clamp(0, 255).to(torch.uint8), labels

    train, val, test = split(n_train), split(100), split(100)
    pixels = train[0].float() / 255
    return DatasetSplits("separable", ("a", "b"), *train, *val, *test,
                         tuple(pixels.mean(dim=(0, 2, 3)).tolist()), tuple(pixels.std(dim=(0, 2, 3)).tolist()))


LINEAR = Design.model_validate({"name": "logistic regression", "input": {"channels": 3, "height": 8, "width": 8},
                                "layers": [{"kind": "flatten"}, {"kind": "linear", "out_features": 2,
                                                                  "activation": "none"}]})


def test_schedule_is_exponential_from_start_to_end():
    rates = rate_schedule(1e-6, 1.0, 7)
    assert rates[0] == pytest.approx(1e-6) and rates[-1] == pytest.approx(1.0)
    assert np.allclose(rates[1:] / rates[:-1], 10.0)


def test_smoothing_is_bias_corrected():
    assert smooth_losses([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])  # no pull towards 0 at the start


def test_suggestion_on_a_known_curve():
    # Flat until 1e-4, falls fastest at 1e-3 (a logistic drop in log eta), lowest near 1e-1, then blows up.
    rates = np.geomspace(1e-7, 10, 400)
    x = np.log10(rates)
    curve = 2.3 - 2.0 / (1 + np.exp(-3 * (x + 3))) + np.where(x > -1, 40 * (x + 1) ** 2, 0)
    suggestion = suggest_rates(rates, curve)
    assert suggestion.steepest == pytest.approx(1e-3, rel=0.1)
    assert 10 ** -1.3 < suggestion.minimum < 10 ** -0.7
    assert suggestion.tenth_of_minimum == pytest.approx(suggestion.minimum / 10)
    assert suggestion.rate == suggestion.steepest


def test_a_flat_curve_has_no_steepest_descent_only_a_tenth_of_its_minimum():
    rates = np.geomspace(1e-7, 1, 100)
    noise = np.random.default_rng(0).normal(0, 0.003, 100)
    suggestion = suggest_rates(rates, 2.3 + noise)
    assert suggestion.steepest is None and suggestion.rate == suggestion.tenth_of_minimum


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_the_finder_suggests_a_rate_in_the_known_good_range(optimizer):
    settings = TrainingSettings(dataset="separable", batch_size=32, optimizer=optimizer, momentum=0.0)
    result = find_learning_rate(LINEAR, settings, steps=200, data=separable_data())
    # This problem learns between about 1e-3 and 1 (the loss falls from 0.75 to 0.2 there); below 1e-4 nothing moves.
    assert 1e-3 <= result.suggestion.steepest <= 0.3
    assert result.smoothed[-1] < 0.6 * result.smoothed[0]


def test_the_finder_stops_when_the_loss_diverges_and_keeps_the_callers_model():
    design = tiny_design()
    settings = TrainingSettings(dataset="shapes", data_limit=600, batch_size=32, optimizer="sgd", momentum=0.9)
    model = build_model(design, seed=3)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    result = find_learning_rate(design, settings, start=1e-4, end=10, steps=120, model=model)
    assert result.diverged and len(result.losses) < 120
    assert all(np.isfinite(result.smoothed))
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def test_unusable_options_are_refused_with_the_fix():
    settings = TrainingSettings(dataset="shapes")
    with pytest.raises(LrFinderError, match="below the end rate"):
        find_learning_rate(LINEAR, settings, start=1.0, end=0.1)
    with pytest.raises(LrFinderError, match="L-BFGS"):
        find_learning_rate(LINEAR, settings.model_copy(update={"optimizer": "lbfgs"}))


def test_cli_prints_the_suggestion_and_writes_csv_and_png(tmp_path, capsys):
    design_file = tmp_path / "tiny.json"
    save_design(tiny_design(), design_file)
    status = main(["lr-find", str(design_file), "--limit", "400", "--steps", "40", "--batch-size", "16",
                   "--out", str(tmp_path / "curve")])
    out = capsys.readouterr().out
    assert status in (0, 1)  # 40 steps may or may not show a clear descent; the files are written either way
    assert "minimum of the loss" in out
    rows = (tmp_path / "curve.csv").read_text().splitlines()
    assert rows[0] == "step,learning_rate,loss,smoothed_loss" and len(rows) > 10
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_bad_input_exits_2(tmp_path, capsys):
    assert main(["lr-find", str(tmp_path / "missing.json")]) == 2
    design_file = tmp_path / "tiny.json"
    save_design(tiny_design(), design_file)
    assert main(["lr-find", str(design_file), "--start", "1", "--end", "0.1"]) == 2
    assert "below the end rate" in capsys.readouterr().err
