"""Sweep overhead: what a trial costs beyond the engine's own work, with the decoded dataset shared.

Runs a random sweep of the small preset (``presets/shapes_small.json``) on the
built-in dataset, ``--trials`` trials of one epoch each on the CPU, and prints
per trial its wall time, the engine's time (from its first record to its last:
training, validation and the final test evaluation) and the overhead around it
(``SweepReport.overhead_seconds``): building the model and optimizer, batches
from the shared dataset, creating the run folder, reading the result back. For
scale it also times decoding the dataset once, which every trial would pay
again if it did not reuse the sweep's copy. Target: overhead under 2 s per trial.

    python bench/sweep_overhead.py [--trials 5] [--limit 5000] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from convstudio.core.experiments.sweep_plan import plan_sweep
from convstudio.core.experiments.sweeps import DatasetCache, run_sweep
from convstudio.core.experiments.variations import parse_variations
from convstudio.core.presets import load_preset
from convstudio.core.training.settings import TrainingSettings
from convstudio.core.training.setup import load_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--limit", type=int, default=5000, help="training images (default 5000)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    design = load_preset("shapes_small")
    settings = TrainingSettings(dataset="shapes", data_limit=args.limit, epochs=1, batch_size=128,
                                device=args.device, mc_samples=1)
    started = time.perf_counter()
    load_data(settings)
    decode_seconds = time.perf_counter() - started
    plan = plan_sweep(design, settings, parse_variations("lr=1e-4:1e-2:log,layers.11.p=0.1:0.5"),
                      trials=args.trials, seed=0)
    walls: list[float] = []
    engine: list[float] = []
    state = {"started": 0.0, "first": 0.0, "last": 0.0}

    def on_event(event) -> None:
        name = type(event).__name__
        now = time.perf_counter()
        if name == "TrialStarted":
            state["started"], state["first"] = now, 0.0
        elif name == "TrialRecord":
            state["first"] = state["first"] or now
            state["last"] = now
        elif name == "TrialFinished":
            walls.append(now - state["started"])
            engine.append(state["last"] - state["first"])

    cache = DatasetCache()
    cache.get(settings)  # the sweep's one decoding, as run_sweep does before its first trial
    with tempfile.TemporaryDirectory() as folder:
        report = run_sweep(folder, plan, on_event=on_event, data_cache=cache)
    print(f"shapes_small, {args.limit} training images, 1 epoch per trial, {torch.get_num_threads()} CPU threads, "
          f"device {args.device}")
    print(f"decoding the dataset once: {decode_seconds:.2f} s (paid once per sweep, not per trial)")
    overheads = report.overhead_seconds
    print(f"{'trial':<7}{'wall s':>9}{'engine s':>10}{'overhead s':>12}")
    for number, (wall, inside, overhead) in enumerate(zip(walls, engine, overheads), start=1):
        print(f"{number:<7}{wall:>9.2f}{inside:>10.2f}{overhead:>12.2f}")
    later = overheads[1:] or overheads
    print(f"overhead per trial: first {overheads[0]:.2f} s (one-time warm-up included), later trials median "
          f"{statistics.median(later):.2f} s, max {max(later):.2f} s (target < 2 s); "
          f"decoding the dataset again would add {decode_seconds:.2f} s per trial")
    print(f"{report.trained} trials trained; best {report.best.name if report.best else '-'}")


if __name__ == "__main__":
    main()
