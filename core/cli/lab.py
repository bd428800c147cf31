"""The lab on the command line: ``gradcheck``, ``signal``, ``dropout-lab``, ``ensemble`` and ``remedies``.

Tables go to stdout, progress to stderr. Exit status: 0 done (``gradcheck``:
every layer passed), 1 ``gradcheck`` found a failing layer or a training run
failed, 2 bad input (unreadable design or run folder, missing dataset, invalid
option), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from convstudio.core.cli.options import (LAB_OPTIONS, add_data_dir_option, add_training_options,
                                         settings_error_message, settings_from_args)
from convstudio.core.design import DesignFileError, load_design
from convstudio.core.initialisation import INIT_SCHEMES
from convstudio.core.training.records import ended_as_planned
from convstudio.core.training.run_folder import WEIGHTS_CHOICES

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_lab_parsers(commands) -> None:
    """Register the lab's commands on the CLI's subcommands."""
    check = commands.add_parser("gradcheck", help="finite-difference gradient check of a design (eq. 1-2)")
    check.add_argument("design", metavar="DESIGN.json")
    check.add_argument("--entries", type=int, default=8, help="entries checked per parameter tensor (default 8)")
    check.add_argument("--delta", type=float, default=1e-6, help="the step Delta (default 1e-6)")
    check.add_argument("--batch-size", type=int, default=4, help="random images in the batch (default 4)")
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--curve", action="store_true", help="also print the error against Delta for one entry")
    check.set_defaults(handler=run_gradcheck)

    signal = commands.add_parser("signal", help="mean and variance of Z and H per layer at initialisation (eq. 27-31)")
    signal.add_argument("design", metavar="DESIGN.json")
    signal.add_argument("--scheme", default="lecture_normal", choices=[*INIT_SCHEMES, "all"])
    signal.add_argument("--gain", type=float, default=1.0, help="C in eq. (27) (default 1)")
    signal.add_argument("--no-batchnorm", action="store_true", help="remove the design's batch-norm layers first")
    signal.add_argument("--batch-size", type=int, default=256)
    signal.add_argument("--dataset", help="push real images of this dataset instead of standard-normal ones")
    signal.add_argument("--seed", type=int, default=0)
    add_data_dir_option(signal)
    signal.set_defaults(handler=run_signal)

    lab = commands.add_parser("dropout-lab", help="weight scaling against Monte Carlo dropout for a run (eq. 22-24)")
    lab.add_argument("run_dir", metavar="RUN_DIR")
    lab.add_argument("--samples", default="1,2,5,10,20,50", help="values of T, comma-separated")
    lab.add_argument("--limit", type=int, help="use the first LIMIT test images")
    lab.add_argument("--weights", choices=WEIGHTS_CHOICES, default="best")
    lab.add_argument("--seed", type=int, default=0)
    add_data_dir_option(lab)
    lab.set_defaults(handler=run_dropout_lab)

    for name, help_text, handler in (
        ("ensemble", "train K members with different seeds and average their softmax", run_ensemble),
        ("remedies", "train the overfitting remedies side by side and compare their gaps", run_remedies),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("design", metavar="DESIGN.json")
        if name == "ensemble":
            command.add_argument("--members", type=int, default=3, help="K, the number of members (default 3)")
        add_training_options(command, LAB_OPTIONS)
        add_data_dir_option(command)
        command.add_argument("--out", required=True, metavar="DIR", help="folder for the runs, one subfolder each")
        command.set_defaults(handler=handler)


def _error(command: str, message: object) -> int:
    print(f"convstudio {command}: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _progress(label: str):
    """A one-line counter on stderr when it is a terminal; nothing when it is a file or a pipe."""
    if not sys.stderr.isatty():
        return None

    def report(done: int, total: int) -> None:
        sys.stderr.write(f"\r{label} {done}/{total} ")
        if done == total:
            sys.stderr.write("\r" + " " * (len(label) + 24) + "\r")
        sys.stderr.flush()
    return report


def _verdict(layer) -> str:
    if layer.passed:
        return "pass"
    return "FAIL" if layer.entries else "FAIL (every sampled step crossed a kink; try a smaller --delta)"


def run_gradcheck(args: argparse.Namespace) -> int:
    """Handler of ``convstudio gradcheck``."""
    from convstudio.core.builder import DesignShapeError
    from convstudio.core.lab.gradcheck import error_vs_delta, gradient_check

    try:
        design = load_design(args.design)
        report = gradient_check(design, args.batch_size, args.entries, args.delta, args.seed,
                                progress=_progress("checking entry"))
        curve = error_vs_delta(design, batch_size=args.batch_size, seed=args.seed) if args.curve else None
    except (DesignFileError, DesignShapeError, ValueError) as error:  # ValueError: nothing to check
        return _error("gradcheck", error)
    print(f"{args.design}: {report.design_name} - gradient check in float64, Delta = {report.delta:g}, "
          f"batch of {report.batch_size}, loss {report.loss:.4f}")
    print(f"relative error |a - b| / max(|a|, |b|, {report.error_floor:.1e}); pass: central < "
          f"{report.central_tolerance:g} and forward < {report.forward_tolerance:g}")
    # names inside blocks ("res1.body.conv1") are long: the column fits the longest, plus a gap
    name_width = _column_width("layer", (layer.layer for layer in report.layers))
    print(f"{'layer':<{name_width}}{'kind':<11}{'entries':>8}{'kinks':>7}{'forward':>11}{'central':>11}  verdict")
    for layer in report.layers:
        print(f"{layer.layer:<{name_width}}{layer.kind:<11}{layer.entries:>8}{layer.kinks:>7}{layer.max_forward_error:>11.1e}"
              f"{layer.max_central_error:>11.1e}  {_verdict(layer)}")
    if curve is not None:
        print(f"\nerror against Delta for {curve.parameter}{list(curve.index)} (autograd {curve.autograd:.6g}):")
        print(f"{'Delta':>9}{'forward':>11}{'central':>11}")
        for delta, forward, central, kink in zip(curve.deltas, curve.forward_errors, curve.central_errors,
                                                 curve.kinks):
            print(f"{delta:>9.0e}{forward:>11.1e}{central:>11.1e}{'  (kink)' if kink else ''}")
        print(f"best Delta: forward {curve.best_forward_delta:.0e}, central {curve.best_central_delta:.0e}")
    verdict = "all layers pass" if report.passed else f"FAILED: {', '.join(report.failed_layers)}"
    print(f"{verdict} ({report.seconds:.1f} s)")
    return EXIT_OK if report.passed else EXIT_FAILED


def _column_width(heading: str, names, minimum: int = 14) -> int:
    """Width of a left-aligned name column: the longest name (or heading) plus two spaces, at least ``minimum``."""
    return max([minimum, len(heading) + 2] + [len(str(name)) + 2 for name in names])


def run_signal(args: argparse.Namespace) -> int:
    """Handler of ``convstudio signal``."""
    from convstudio.core.builder import DesignShapeError
    from convstudio.core.lab.signal_propagation import compare_schemes

    inputs = labels = None
    try:
        design = load_design(args.design)
        if args.dataset:
            from convstudio.core.data import DatasetUnavailable, load_dataset
            from convstudio.core.lab.data_access import normalised_images

            try:
                # twice the batch: the validation share is set aside before the training images are taken
                data = load_dataset(args.dataset, seed=args.seed, limit=max(2 * args.batch_size, 20))
            except DatasetUnavailable as error:
                return _error("signal", error)
            if tuple(data.image_shape) != tuple(design.input.shape):
                return _error("signal", f"{data.name} images are {data.image_shape}, the design expects "
                                        f"{tuple(design.input.shape)}")
            inputs, labels = normalised_images(data, "train", limit=args.batch_size)
        schemes = INIT_SCHEMES if args.scheme == "all" else (args.scheme,)
        reports = compare_schemes(design, schemes, args.gain, not args.no_batchnorm, inputs, labels, args.batch_size,
                                  args.seed)
    except (DesignFileError, DesignShapeError) as error:
        return _error("signal", error)
    for number, report in enumerate(reports):
        if number:
            print()
        print(f"{report.design_name}: {report.scheme}, C = {report.gain:g}, batch norm "
              f"{'kept' if report.batch_norm else 'removed'}, {report.batch_size} {report.inputs} images")
        layer_width = _column_width("layer", (row.layer for row in report.rows), minimum=10)
        module_width = _column_width("module", (row.module for row in report.rows), minimum=16)
        print(f"{'layer':<{layer_width}}{'module':<{module_width}}{'kind':<6}{'mean':>9}{'variance':>10}"
              f"{'eq.28':>9}{'grad var':>11}  note")
        for row in report.rows:
            predicted = f"{row.predicted_variance:>9.3f}" if row.predicted_variance is not None else " " * 9
            note = ""
            if row.kind == "Z":
                note = "Var[Z]=1 holds" if row.claim_holds else "Var[Z]=1 fails"
                note += "" if row.assumption_holds else " (input not mean 0, variance 1)"
            elif row.kind == "H":
                note = f"|H - Z| / |Z| = {row.linearisation_error:.2f}"
            print(f"{row.layer:<{layer_width}}{row.module:<{module_width}}{row.kind:<6}{row.mean:>9.3f}{row.variance:>10.3f}{predicted}"
                  f"{row.grad_variance:>11.2e}  {note}")
    return EXIT_OK


def run_dropout_lab(args: argparse.Namespace) -> int:
    """Handler of ``convstudio dropout-lab``."""
    from convstudio.core.lab.data_access import load_trained_run, normalised_images, run_dataset
    from convstudio.core.lab.dropout_lab import dropout_inference_curve, summary_lines
    from convstudio.core.training.run_folder import RunFolderError
    from convstudio.core.training.setup import TrainingSetupError

    try:
        samples = tuple(int(part) for part in args.samples.split(",") if part.strip())
        if not samples or min(samples) < 1:
            raise ValueError
    except ValueError:
        return _error("dropout-lab", f"--samples needs positive whole numbers such as 1,2,5,10, not {args.samples!r}")
    try:
        trained = load_trained_run(args.run_dir, args.weights)
        data = run_dataset(trained.settings)
    except (RunFolderError, DesignFileError, TrainingSetupError) as error:
        return _error("dropout-lab", error)
    images, labels = normalised_images(data, "test", limit=args.limit)
    if len(labels) == 0:
        return _error("dropout-lab", f"{data.name} has no test images")
    report = dropout_inference_curve(trained.model, images, labels, samples, seed=args.seed,
                                     progress=_progress("Monte Carlo sample"))
    print(f"{args.run_dir}: {trained.design.name}, {args.weights} weights, {report.image_count} {data.name} "
          f"test images")
    if not report.has_dropout:
        print("the design has no dropout: both rules give the same prediction")
    print("\n".join(summary_lines(report)))
    return EXIT_OK


def _train_lab(args: argparse.Namespace, command: str, train) -> int:
    """Load the design and settings, call ``train(design, settings)``; map failures to exit codes."""
    from convstudio.core.lab.common import LabCancelled
    from convstudio.core.training.setup import TrainingSetupError

    try:
        design = load_design(args.design)
        settings = settings_from_args(args, design)
        return train(design, settings)
    except (DesignFileError, TrainingSetupError) as error:
        return _error(command, error)
    except ValidationError as error:
        return _error(command, f"invalid settings: {settings_error_message(error)}")
    except (KeyboardInterrupt, LabCancelled):
        print(f"convstudio {command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _epoch_line(prefix: str):
    from convstudio.core.training.records import EpochRecord

    def show(key, record) -> None:
        if isinstance(record, EpochRecord):
            print(f"{prefix} {key}: epoch {record.epoch + 1} train loss {record.train_loss:.4f} "
                  f"val loss {record.val_loss:.4f} val acc {record.val_accuracy:.3f}", file=sys.stderr)
    return show


def run_ensemble(args: argparse.Namespace) -> int:
    """Handler of ``convstudio ensemble``."""
    from convstudio.core.lab.ensembles import train_ensemble

    if args.members < 1:
        return _error("ensemble", "--members must be at least 1")

    def train(design, settings) -> int:
        report = train_ensemble(design, settings, args.members, runs_root=Path(args.out),
                                on_record=lambda i, record: _epoch_line("member")(i + 1, record))
        print(f"{design.name}: ensemble of {len(report.members)} on {report.test_size} {report.dataset} test images")
        print(f"{'member':<8}{'seed':>6}{'accuracy':>10}{'NLL':>9}  run")
        for number, member in enumerate(report.members, start=1):
            print(f"{number:<8}{member.seed:>6}{member.accuracy:>10.4f}{member.nll:>9.4f}  {member.run_dir}")
        print(f"{'average':<14}{report.mean_member_accuracy:>10.4f}{report.mean_member_nll:>9.4f}")
        print(f"{'ensemble':<14}{report.accuracy:>10.4f}{report.nll:>9.4f}")
        ok = all(ended_as_planned(member.end_reason) for member in report.members)
        return EXIT_OK if ok else EXIT_FAILED

    return _train_lab(args, "ensemble", train)


def run_remedies(args: argparse.Namespace) -> int:
    """Handler of ``convstudio remedies``."""
    from convstudio.core.lab.remedies import remedy_variants, train_variants

    def train(design, settings) -> int:
        curves = train_variants(remedy_variants(design, settings), runs_root=Path(args.out),
                                on_record=_epoch_line("variant"))
        print(f"{design.name}: overfitting remedies, last epoch of each run")
        print(f"{'variant':<16}{'epochs':>7}{'train acc':>10}{'val acc':>9}{'acc gap':>9}{'loss gap':>10}"
              f"{'test acc':>10}")
        for c in curves:
            if not c.epochs:
                print(f"{c.label:<16}{0:>7}  ended without a full epoch ({c.end_reason})")
                continue
            test = f"{c.test_accuracy:>10.4f}" if c.test_accuracy is not None else f"{'-':>10}"
            print(f"{c.label:<16}{len(c.epochs):>7}{c.train_accuracy[-1]:>10.4f}{c.val_accuracy[-1]:>9.4f}"
                  f"{c.accuracy_gap[-1]:>9.4f}{c.loss_gap[-1]:>10.4f}{test}")
        return EXIT_OK if all(ended_as_planned(c.end_reason) for c in curves) else EXIT_FAILED

    return _train_lab(args, "remedies", train)
