"""The ``convstudio`` command line: every headless operation on designs and runs.

``convstudio`` with no command opens the app (the GUI passes itself in as
``open_app``; this module never imports it). Exit codes of ``check``: 0 all
designs valid, 1 some design has impossible shapes, 2 some file is not a
readable design.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from convstudio.core import __version__
from convstudio.core.design import DesignFileError, load_design
from convstudio.core.paths import data_dir_override
from convstudio.core.cli.doctor import add_doctor_parser
from convstudio.core.cli.export import add_export_parser
from convstudio.core.cli.inspect import add_inspect_parser
from convstudio.core.cli.lab import add_lab_parsers
from convstudio.core.cli.launch import add_launch_parser
from convstudio.core.cli.lr_find import add_lr_find_parser
from convstudio.core.cli.sweep import add_sweep_parser
from convstudio.core.cli.train import add_train_parser
from convstudio.core.receptive_field import receptive_fields_by_path
from convstudio.core.report_text import report_json, report_table
from convstudio.core.shapes import infer_shapes
from convstudio.core.training.classifier_output import classifier_problem

EXIT_OK = 0
EXIT_INVALID_DESIGN = 1
EXIT_BAD_INPUT = 2


def _check(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for number, path in enumerate(args.designs):
        try:
            design = load_design(path)
        except DesignFileError as error:
            status = max(status, EXIT_BAD_INPUT)
            if args.json:
                print(json.dumps({"file": path, "valid": False, "error": str(error), "total_params": 0, "layers": [],
                                  "classifier_problem": None}))
            else:
                print(f"{error}\n" if len(args.designs) > 1 else error, file=sys.stderr)
            continue
        report = infer_shapes(design)
        fields = receptive_fields_by_path(design)
        if not report.valid:
            status = max(status, EXIT_INVALID_DESIGN)
        # Valid shapes may still not train: say so (train refuses it with the same sentence).
        not_a_classifier = classifier_problem(report)
        if args.json:
            print(json.dumps({**report_json(report, path, fields), "classifier_problem": not_a_classifier}))
            continue
        verdict = "valid" if report.valid else f"INVALID ({len(report.problems)} problem(s))"
        if number:
            print()
        print(f"{path}: {design.name} - {verdict}")
        print(report_table(report, fields))
        if not_a_classifier:
            print(f"note: {not_a_classifier}")
    return status


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="convstudio",
        description="Design, check and train convolutional networks. With no command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"convstudio {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser("check", help="check designs: shapes, parameters and formulas per layer")
    check.add_argument("designs", nargs="+", metavar="DESIGN.json")
    check.add_argument("--json", action="store_true", help="print one JSON object per file, one per line")
    check.set_defaults(handler=_check)

    add_train_parser(commands)
    add_launch_parser(commands)
    add_export_parser(commands)
    add_lab_parsers(commands)
    add_lr_find_parser(commands)
    add_sweep_parser(commands)
    add_doctor_parser(commands)
    add_inspect_parser(commands)

    gui = commands.add_parser("gui", help="open the app, optionally with a design file")
    gui.add_argument("design", nargs="?", metavar="DESIGN.json")
    return parser


def main(argv: Sequence[str] | None = None, open_app: Callable[[str | None], int] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command in (None, "gui"):
        if open_app is None:
            build_parser().print_help()
            return EXIT_OK
        return open_app(getattr(args, "design", None))
    # --data-dir (commands that read a dataset) overrides $CONVSTUDIO_DATA while the command runs.
    with data_dir_override(getattr(args, "data_dir", None)):
        return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
