"""``convstudio sweep``: train a grid or random draws of settings and layer fields, and print the table.

Before anything trains, impossible combinations are listed with the shape
engine's reason (or, once the dataset is loaded, why the design does not fit
it: input size, class count) and skipped. A trial that fails is marked failed
with its message and the sweep goes on. Each trial is a run folder under the sweep folder
(``SWEEP_DIR/trial-001``, ...); ``--resume SWEEP_DIR`` continues an interrupted
sweep without redoing finished trials. Exit status: 0 every possible trial
trained, 1 a trial failed (diverged, out of memory, an error), 2 bad input
(unreadable design, a ``--vary`` that cannot be read, every combination
impossible, a missing dataset), 130 interrupted (resume with ``--resume``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from convstudio.core.cli.options import add_data_dir_option, add_training_options, settings_error_message, settings_from_args
from convstudio.core.design import DesignFileError, load_design

EXIT_OK, EXIT_TRIAL_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
SWEEP_OPTIONS = ("dataset", "epochs", "batch_size", "optimizer", "lr", "momentum", "l2", "schedule", "augment",
                 "device", "init", "seed", "limit", "early_stopping", "mc_samples", "tensorboard")


def add_sweep_parser(commands) -> None:
    """Register ``sweep`` on the CLI's subcommands."""
    command = commands.add_parser("sweep", help="train a grid or random draws of settings and layer fields")
    command.add_argument("design", nargs="?", metavar="DESIGN.json", help="the design (not needed with --resume)")
    command.add_argument("--vary", action="append", metavar="SPEC",
                         help="NAME=V1|V2|... or NAME=LOW:HIGH[:log], comma-separated, e.g. "
                              "lr=1e-4:1e-1:log,batch_size=32|64|128,layers.5.p=0.1:0.5 (layers counted from 1)")
    command.add_argument("--trials", type=int, default=8, help="random draws (default 8; a grid takes every one)")
    command.add_argument("--grid", action="store_true", help="every combination instead of random draws")
    command.add_argument("--points", type=int, default=3, help="values per range in a grid (default 3)")
    command.add_argument("--sweep-seed", type=int, default=0, help="seed of the random draws (default 0)")
    command.add_argument("--objective", choices=["val_accuracy", "val_loss"], default="val_accuracy",
                         help="what ranks the trials (default val_accuracy, the best epoch's)")
    command.add_argument("--out", metavar="SWEEP_DIR", help="the sweep folder (default: sweep-<time> under the "
                                                             "design's runs folder)")
    command.add_argument("--resume", metavar="SWEEP_DIR", help="continue the sweep in SWEEP_DIR")
    command.add_argument("--dry-run", action="store_true", help="list the trials and stop")
    add_training_options(command, SWEEP_OPTIONS)
    add_data_dir_option(command)
    command.set_defaults(handler=run_sweep_command)


def _fail(message: object) -> int:
    print(f"convstudio sweep: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _plan(args: argparse.Namespace):
    """(plan, folder) from the options, or an exit status after saying what is wrong."""
    from convstudio.core.experiments.sweep_plan import SweepError, load_plan, plan_sweep
    from convstudio.core.experiments.variations import VariationError, parse_variations
    from convstudio.core.paths import default_runs_root
    from convstudio.core.training.run_index import design_runs_folder

    if args.resume:
        try:
            return load_plan(args.resume), Path(args.resume)
        except SweepError as error:
            return _fail(error)
    if not args.design:
        return _fail("give a design file, or --resume SWEEP_DIR")
    if not args.vary:
        return _fail("give --vary, e.g. --vary lr=1e-4:1e-1:log,batch_size=32|64")
    try:
        design = load_design(args.design)
        settings = settings_from_args(args, design)
        variations = parse_variations(args.vary)
        plan = plan_sweep(design, settings, variations, grid=args.grid, trials=args.trials, points=args.points,
                          seed=args.sweep_seed, objective=args.objective)
    except (DesignFileError, VariationError, SweepError) as error:
        return _fail(error)
    except (ValidationError, ValueError) as error:
        return _fail(f"invalid settings: {settings_error_message(error)}")
    folder = Path(args.out) if args.out else (design_runs_folder(default_runs_root(), design.name)
                                              / time.strftime("sweep-%Y%m%d-%H%M%S"))
    return plan, folder


def run_sweep_command(args: argparse.Namespace) -> int:
    """Handler of ``convstudio sweep``."""
    from convstudio.core.experiments.sweep_plan import OBJECTIVES, SweepError
    from convstudio.core.experiments.sweeps import (
        TrialFinished, TrialsSkipped, TrialStarted, impossible_lines, results_table, run_sweep,
    )
    from convstudio.core.training.control import RunControl
    from convstudio.core.training.setup import TrainingSetupError

    planned = _plan(args)
    if isinstance(planned, int):
        return planned
    plan, folder = planned
    impossible = impossible_lines(plan)
    print(f"{len(plan.trials)} trials ({'grid' if plan.grid else 'random draws'}) of {plan.design.name} on "
          f"{plan.settings.dataset}; {len(impossible)} impossible; sweep folder {folder}", file=sys.stderr)
    if impossible:
        print("skipped, impossible:\n  " + "\n  ".join(impossible), file=sys.stderr)
    if not plan.possible:
        return _fail("every combination is impossible (listed above): narrow the ranges")
    if args.dry_run:
        for trial in plan.possible:
            print(f"{trial.name}: " + ", ".join(f"{k}={v}" for k, v in trial.values.items()))
        return EXIT_OK

    def on_event(event) -> None:
        if isinstance(event, TrialStarted):
            values = ", ".join(f"{k}={v}" for k, v in event.values.items())
            verb = "continuing" if event.resumed else "training"
            print(f"[{event.number}/{event.count}] {verb} {event.name}: {values}", file=sys.stderr)
        elif isinstance(event, TrialsSkipped):
            print(f"skipped, impossible on {plan.settings.dataset}:\n  " + "\n  ".join(event.lines), file=sys.stderr)
        elif isinstance(event, TrialFinished):
            r = event.result
            accuracy = f"{r.best_val_accuracy:.3f}" if r.best_val_accuracy is not None else "-"
            said = f": {r.message}" if r.status in ("failed", "diverged", "out of memory") and r.message else ""
            print(f"    {r.name}: {r.status}, best val acc {accuracy}, {r.seconds:.1f} s{said}", file=sys.stderr)

    control = RunControl()
    try:
        report = run_sweep(folder, plan, on_event=on_event, control=control)
    except KeyboardInterrupt:
        print(f"interrupted; continue with: convstudio sweep --resume {folder}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (SweepError, TrainingSetupError) as error:
        return _fail(error)
    print(f"sweep {folder}: {len(report.results)} trials, ranked by {OBJECTIVES[report.objective]}")
    print(results_table(report.results, report.variations, report.objective))
    for failed in report.failed:
        print(f"{failed.name} {failed.status}: {failed.message}")
    if report.best is not None:
        best = report.best
        print(f"best: {best.name} ({', '.join(f'{k}={v}' for k, v in best.values.items())}), run folder "
              f"{best.run_dir}")
    if report.stopped:
        print(f"stopped; continue with: convstudio sweep --resume {folder}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_TRIAL_FAILED if report.failed else EXIT_OK
