"""Sweeps: the --vary syntax, grids and random draws, impossible trials, resume, the CLI's table and exit codes."""

from __future__ import annotations

import json

import pytest

from convstudio.core.cli import main
from convstudio.core.design import Design, save_design
from convstudio.core.experiments.sweep_plan import SweepError, load_plan, plan_sweep
from convstudio.core.experiments.sweeps import DatasetCache, results_table, run_sweep, sweep_results
from convstudio.core.experiments.variations import Variation, VariationError, parse_variations
from convstudio.core.training.control import RunControl
from convstudio.core.training.settings import TrainingSettings
from design_helpers import tiny_design

pytestmark = pytest.mark.usefixtures("one_torch_thread")

QUICK = TrainingSettings(dataset="shapes", data_limit=200, epochs=1, batch_size=32, mc_samples=1)


def dropout_design() -> Design:
    data = json.loads(tiny_design().to_json())
    data["layers"].insert(3, {"kind": "dropout", "p": 0.5})  # layer 4, counted from 1
    return Design.model_validate(data)


def test_vary_syntax():
    lr, batch, p, optimizer = parse_variations("lr=1e-4:1e-1:log,batch_size=32|64|128,layers.5.p=0.1:0.5,"
                                               "optimizer=sgd|adam")
    assert lr == Variation("learning_rate", (), 1e-4, 1e-1, log=True)
    assert batch.values == (32, 64, 128) and not batch.is_range
    assert (p.low, p.high, p.log, p.integer) == (0.1, 0.5, False, False)
    assert optimizer.values == ("sgd", "adam")
    channels, = parse_variations(["layers.1.out_channels=4:16"])
    assert channels.integer and channels.grid_values(3) == (4, 10, 16)
    assert lr.grid_values(4) == pytest.approx((1e-4, 1e-3, 1e-2, 1e-1))
    assert parse_variations(lr.text())[0] == lr


@pytest.mark.parametrize("text, words", [
    ("lr", "not NAME=V1|V2"), ("lr=1:0.1", "LOW below HIGH"), ("lr=0:1:log", "positive LOW"),
    ("lr=a:b", "must be numbers"), ("lr=1|2,lr=3|4", "given twice"), ("", "nothing to vary"),
])
def test_vary_syntax_errors_say_what_is_wrong(text, words):
    with pytest.raises(VariationError, match=words):
        parse_variations(text)


@pytest.mark.parametrize("text, words", [
    ("layers.9.p=0.1|0.2", "has 4 entries, not 9"), ("layers.1.p=0.1|0.2", "conv2d layer has no field 'p'"),
    ("momentom=0.5|0.9", "neither a training setting"), ("dataset=shapes|mnist", "one sweep per dataset"),
])
def test_variations_naming_nothing_are_refused(text, words):
    with pytest.raises(SweepError, match=words):
        plan_sweep(tiny_design(), QUICK, parse_variations(text))


def test_grid_plan_takes_every_combination_and_lists_impossible_ones_with_the_shape_engines_reason():
    variations = parse_variations("lr=1e-3|1e-2,layers.1.kernel_size=3|40")
    plan = plan_sweep(tiny_design(), QUICK, variations, grid=True)
    assert [t.values for t in plan.trials] == [
        {"learning_rate": 1e-3, "layers.1.kernel_size": 3}, {"learning_rate": 1e-3, "layers.1.kernel_size": 40},
        {"learning_rate": 1e-2, "layers.1.kernel_size": 3}, {"learning_rate": 1e-2, "layers.1.kernel_size": 40}]
    assert [t.index for t in plan.impossible] == [1, 3]
    assert "kernel 40 is larger than the padded input" in plan.impossible[0].problem
    assert plan.trial_design(plan.trials[0]).layers[0].kernel_size == 3
    assert plan.trial_settings(plan.trials[2]).learning_rate == 1e-2


def test_layers_inside_blocks_are_reached_by_nested_paths():
    design = Design.model_validate({
        "name": "residual", "input": {"channels": 3, "height": 32, "width": 32},
        "layers": [{"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
                   {"kind": "residual", "body": [{"kind": "conv2d", "out_channels": 4, "kernel_size": 3,
                                                  "padding": 1}]},
                   {"kind": "maxpool2d", "kernel_size": 4}, {"kind": "flatten"},
                   {"kind": "linear", "out_features": 10, "activation": "none"}]})
    plan = plan_sweep(design, QUICK, parse_variations("layers.2.body.1.out_channels=4|6"), grid=True)
    assert plan.trials[0].problem is None
    assert plan.trial_design(plan.trials[0]).layers[1].body[0].out_channels == 4
    assert "identity shortcut gives 4x16x16" in plan.trials[1].problem
    with pytest.raises(SweepError, match="layers.2.body has 1 entries, not 2"):
        plan_sweep(design, QUICK, parse_variations("layers.2.body.2.out_channels=4|6"))
    with pytest.raises(SweepError, match="no layers under 'bogus'"):
        plan_sweep(design, QUICK, parse_variations("layers.2.bogus.1.p=0.1|0.2"))


def test_random_plan_draws_within_ranges_reproducibly():
    variations = parse_variations("lr=1e-4:1e-1:log,layers.4.p=0.1:0.5,batch_size=16|32")
    first = plan_sweep(dropout_design(), QUICK, variations, trials=20, seed=5)
    again = plan_sweep(dropout_design(), QUICK, variations, trials=20, seed=5)
    assert [t.values for t in first.trials] == [t.values for t in again.trials]
    rates = [t.values["learning_rate"] for t in first.trials]
    assert all(1e-4 <= r <= 1e-1 for r in rates) and min(rates) < 1e-3 and max(rates) > 1e-2  # log-uniform spread
    assert all(0.1 <= t.values["layers.4.p"] <= 0.5 for t in first.trials)
    assert {t.values["batch_size"] for t in first.trials} == {16, 32}


def test_random_sweep_trains_resumes_without_redoing_finished_trials(tmp_path):
    variations = parse_variations("lr=1e-3:1e-1:log,layers.4.p=0.1:0.5")
    plan = plan_sweep(dropout_design(), QUICK, variations, trials=3, seed=1)
    folder = tmp_path / "sweep"
    control = RunControl()
    cache = DatasetCache()
    events = []

    def stop_after_first(event):
        events.append(event)
        if type(event).__name__ == "TrialFinished":
            control.stop()

    report = run_sweep(folder, plan, on_event=stop_after_first, control=control, data_cache=cache)
    assert report.stopped and report.trained == 1
    assert [r.status for r in report.results] == ["finished", "pending", "pending"]
    first_run = folder / "trial-001"
    assert json.loads((first_run / "settings.json").read_text())["learning_rate"] == plan.trials[0].values["learning_rate"]
    assert json.loads((first_run / "design.json").read_text())["layers"][3]["p"] == plan.trials[0].values["layers.4.p"]
    stamp = (first_run / "metrics.jsonl").stat().st_mtime_ns
    resumed = run_sweep(folder, data_cache=cache)  # the plan comes from sweep.json
    assert resumed.trained == 2 and not resumed.stopped
    assert [r.status for r in resumed.results] == ["finished"] * 3
    assert (first_run / "metrics.jsonl").stat().st_mtime_ns == stamp  # not trained again
    assert load_plan(folder).to_json() == plan.to_json()
    table = results_table(resumed.results, resumed.variations, resumed.objective)
    assert table.splitlines()[0].split()[:4] == ["rank", "trial", "learning_rate", "layers.4.p"]
    best = resumed.best
    assert best.best_val_accuracy == max(r.best_val_accuracy for r in resumed.results)
    assert len(resumed.overhead_seconds) == resumed.trained  # one per trained trial; bench/sweep_overhead.py times them


def test_a_folder_with_another_sweep_is_refused(tmp_path):
    first = plan_sweep(tiny_design(), QUICK, parse_variations("lr=1e-3|1e-2"), grid=True)
    other = plan_sweep(tiny_design(), QUICK, parse_variations("lr=1e-4|1e-3"), grid=True)
    from convstudio.core.experiments.sweep_plan import save_plan

    save_plan(first, tmp_path)
    with pytest.raises(SweepError, match="holds another sweep"):
        run_sweep(tmp_path, other)
    assert [r.status for r in sweep_results(tmp_path)] == ["pending", "pending"]


def test_cli_sweep_prints_the_table_and_exit_codes(tmp_path, capsys):
    design_file = tmp_path / "tiny.json"
    save_design(tiny_design(), design_file)
    out = tmp_path / "sweep"
    status = main(["sweep", str(design_file), "--vary", "lr=1e-3|1e-2", "--vary", "layers.1.kernel_size=3|40",
                   "--grid", "--epochs", "1", "--limit", "200", "--mc-samples", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0
    assert "skipped, impossible" in captured.err and "kernel 40" in captured.err
    lines = captured.out.splitlines()
    assert lines[1].split()[:5] == ["rank", "trial", "learning_rate", "layers.1.kernel_size", "val"]
    assert sum("impossible" in line for line in lines) == 2 and sum("finished" in line for line in lines) == 2
    assert (out / "trial-001" / "run.json").is_file() and not (out / "trial-002").exists()
    # resuming a finished sweep trains nothing and prints the same table
    assert main(["sweep", "--resume", str(out)]) == 0
    assert "finished" in capsys.readouterr().out


@pytest.mark.parametrize("arguments, words", [
    (["--vary", "lr=1:0.1"], "LOW below HIGH"),
    (["--vary", "layers.1.kernel_size=40|50", "--grid"], "every combination is impossible"),
    ([], "give --vary"),
])
def test_cli_bad_input_exits_2(tmp_path, capsys, arguments, words):
    design_file = tmp_path / "tiny.json"
    save_design(tiny_design(), design_file)
    assert main(["sweep", str(design_file), *arguments, "--out", str(tmp_path / "s")]) == 2
    assert words in capsys.readouterr().err


def test_cli_resume_of_a_folder_that_is_no_sweep_exits_2(tmp_path, capsys):
    assert main(["sweep", "--resume", str(tmp_path)]) == 2
    assert "sweep.json: missing" in capsys.readouterr().err


def test_cli_a_diverging_trial_exits_1(tmp_path, capsys):
    # Two linear layers without activation: at learning rate 10 the product of their weights explodes.
    design_file = tmp_path / "linear.json"
    save_design(Design.model_validate({
        "name": "deep linear", "input": {"channels": 3, "height": 32, "width": 32},
        "layers": [{"kind": "flatten"}, {"kind": "linear", "out_features": 32, "activation": "none"},
                   {"kind": "linear", "out_features": 10, "activation": "none"}]}), design_file)
    status = main(["sweep", str(design_file), "--vary", "lr=10|9", "--optimizer", "sgd", "--momentum", "0.99",
                   "--grid", "--epochs", "2", "--limit", "300", "--batch-size", "8", "--mc-samples", "1",
                   "--out", str(tmp_path / "s")])
    assert status == 1, capsys.readouterr()
    assert "diverged" in capsys.readouterr().out


def test_layer_values_that_cannot_train_are_impossible_before_anything_trains(tmp_path):
    # out_features=1 is no classifier (caught by the plan); 5 outputs for shapes' 10 classes is caught once the
    # dataset is loaded, still before the first trial trains.
    plan = plan_sweep(tiny_design(), QUICK, parse_variations("layers.4.out_features=10|1|5"), grid=True)
    assert [t.index for t in plan.impossible] == [1]
    assert "a classifier needs at least two classes" in plan.impossible[0].problem
    events = []
    report = run_sweep(tmp_path / "sweep", plan, on_event=events.append)
    names = [type(event).__name__ for event in events]
    assert names.index("TrialsSkipped") < names.index("TrialStarted")
    skipped = events[names.index("TrialsSkipped")].lines
    assert len(skipped) == 1 and skipped[0].startswith("trial-003 (layers.4.out_features=5)")
    assert "outputs 5 values per image but shapes has 10 classes" in skipped[0]
    assert [r.status for r in report.results] == ["finished", "impossible", "impossible"]
    assert report.trained == 1 and not report.failed
    assert not (tmp_path / "sweep" / "trial-003").exists()
    # sweep.json keeps the dataset's verdict: a resume lists it too and trains nothing
    assert [t.index for t in load_plan(tmp_path / "sweep").impossible] == [1, 2]
    assert run_sweep(tmp_path / "sweep", plan).trained == 0  # the same plan again: the same sweep, not another


def failing_trials(monkeypatch):
    """Trials at lr 1e-2 are refused when they start, trials at lr 3e-2 break in their first epoch."""
    from convstudio.core.training import engine
    from convstudio.core.training.setup import TrainingSetupError

    real_prepare, real_train = engine.prepare_run, engine.TrainingRun._train

    def prepare(design, settings, *args, **kwargs):
        if settings.learning_rate == 1e-2:
            raise TrainingSetupError("refused for the test")
        return real_prepare(design, settings, *args, **kwargs)

    def train(self, start_epoch, step):
        if self.settings.learning_rate == 3e-2:
            raise RuntimeError("broken for the test")
        yield from real_train(self, start_epoch, step)

    monkeypatch.setattr(engine, "prepare_run", prepare)
    monkeypatch.setattr(engine.TrainingRun, "_train", train)


def test_a_trial_that_fails_is_marked_failed_and_the_sweep_goes_on(tmp_path, monkeypatch):
    failing_trials(monkeypatch)
    plan = plan_sweep(tiny_design(), QUICK, parse_variations("lr=1e-2|3e-2|1e-3"), grid=True)
    report = run_sweep(tmp_path / "sweep", plan)
    assert [r.status for r in report.results] == ["failed", "failed", "finished"]
    assert report.results[0].message == "refused for the test"
    assert "RuntimeError: broken for the test" in report.results[1].message
    assert [r.name for r in report.failed] == ["trial-001", "trial-002"]
    assert run_sweep(tmp_path / "sweep").trained == 0  # failed trials are not redone on resume
    assert [r.status for r in sweep_results(tmp_path / "sweep")] == ["failed", "failed", "finished"]


def test_cli_a_failing_trial_exits_1_after_training_the_rest(tmp_path, capsys, monkeypatch):
    failing_trials(monkeypatch)
    design_file = tmp_path / "tiny.json"
    save_design(tiny_design(), design_file)
    status = main(["sweep", str(design_file), "--vary", "lr=1e-2|1e-3", "--grid", "--epochs", "1", "--limit",
                   "200", "--mc-samples", "1", "--out", str(tmp_path / "s")])
    captured = capsys.readouterr()
    assert status == 1, captured.err
    assert "trial-001: failed, best val acc -, 0.0 s: refused for the test" in captured.err
    assert "trial-001 failed: refused for the test" in captured.out
    assert sum("finished" in line for line in captured.out.splitlines()) == 1
