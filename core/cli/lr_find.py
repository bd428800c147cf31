"""``convstudio lr-find``: the learning-rate range test on the command line.

Prints the suggested rate (and a tenth of the minimum's rate) and writes the
curve as CSV and PNG. Exit status: 0 a rate was suggested, 1 the curve suggests
none (the loss diverged at once, or never fell), 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from convstudio.core.cli.options import add_data_dir_option, add_training_options, settings_error_message, settings_from_args
from convstudio.core.design import DesignFileError, load_design

EXIT_OK, EXIT_NO_SUGGESTION, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
# The training options that matter to the test (the rate itself is what it varies).
LR_FIND_OPTIONS = ("dataset", "batch_size", "optimizer", "momentum", "l2", "augment", "device", "init", "seed",
                   "limit")


def add_lr_find_parser(commands) -> None:
    """Register ``lr-find`` on the CLI's subcommands."""
    command = commands.add_parser("lr-find", help="learning-rate range test: suggest a learning rate for a design")
    command.add_argument("design", metavar="DESIGN.json")
    add_training_options(command, LR_FIND_OPTIONS)
    add_data_dir_option(command)
    command.add_argument("--start", type=float, default=1e-7, help="first learning rate (default 1e-7)")
    command.add_argument("--end", type=float, default=10.0, help="last learning rate (default 10)")
    command.add_argument("--steps", type=int, default=300, help="mini-batches, one rate each (default 300)")
    command.add_argument("--out", metavar="PREFIX",
                         help="write PREFIX.csv and PREFIX.png (default: lr_find beside the design file)")
    command.set_defaults(handler=run_lr_find)


def run_lr_find(args: argparse.Namespace) -> int:
    """Handler of ``convstudio lr-find``."""
    from convstudio.core.experiments.lr_finder import LrFinderError, find_learning_rate, save_curve
    from convstudio.core.lab.common import LabCancelled
    from convstudio.core.training.setup import TrainingSetupError

    def fail(message: object) -> int:
        print(f"convstudio lr-find: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT

    try:
        design = load_design(args.design)
        settings = settings_from_args(args, design)
    except DesignFileError as error:
        return fail(error)
    except (ValidationError, ValueError) as error:
        return fail(f"invalid settings: {settings_error_message(error)}")
    prefix = Path(args.out) if args.out else Path(args.design).with_name("lr_find")
    if not prefix.parent.is_dir():
        return fail(f"--out: the folder {prefix.parent} does not exist; create it or choose another")
    progress = _progress() if sys.stderr.isatty() else None
    try:
        result = find_learning_rate(design, settings, args.start, args.end, args.steps, progress=progress)
    except (LrFinderError, TrainingSetupError) as error:
        return fail(error)
    except (KeyboardInterrupt, LabCancelled):
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    csv_path, png_path = prefix.with_name(prefix.name + ".csv"), prefix.with_name(prefix.name + ".png")
    save_curve(result, csv_path, png_path)
    s = result.suggestion
    print(f"{args.design}: {design.name}, {settings.optimizer} with batch size {settings.batch_size} on "
          f"{settings.dataset}; {len(result.losses)} steps from {result.start:g} in {result.seconds:.1f} s")
    print(f"steepest descent:      {_rate(s.steepest)}")
    print(f"minimum of the loss:   {_rate(s.minimum)}")
    print(f"a tenth of the minimum: {_rate(s.tenth_of_minimum)}")
    print(result.summary())
    print(f"curve: {csv_path}, {png_path}")
    if s.rate is not None:
        print(f"train with: convstudio train {args.design} --lr {s.rate:.2g}")
    return EXIT_OK if s.rate is not None else EXIT_NO_SUGGESTION


def _rate(value: float | None) -> str:
    return f"{value:.3g}" if value is not None else "none"


def _progress():
    def report(done: int, total: int) -> None:
        sys.stderr.write(f"\rrange test {done}/{total} ")
        if done == total:
            sys.stderr.write("\r" + " " * 30 + "\r")
        sys.stderr.flush()
    return report
