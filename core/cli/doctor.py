"""``convstudio doctor``: what matters about this machine for ConvStudio, as text or ``--json``.

Versions, the devices training would use and why (with the fix when an NVIDIA
GPU is not usable), the Qt platform and whether a window can open, the data
folder and its datasets, the runs folder and its free space, the optional
extras. Exit status: 0 the app can run as intended, 1 something cannot work
(each problem printed with its fix).
"""

from __future__ import annotations

import argparse
import json

from convstudio.core.cli.options import add_data_dir_option

EXIT_OK, EXIT_PROBLEMS = 0, 1


def add_doctor_parser(commands) -> None:
    """Register ``doctor`` on the CLI's subcommands."""
    doctor = commands.add_parser(
        "doctor", help="check this machine: versions, training devices, the window, data and runs folders")
    doctor.add_argument("--json", action="store_true", help="print the report as one JSON object")
    add_data_dir_option(doctor)
    doctor.set_defaults(handler=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    """Handler of ``convstudio doctor``."""
    from convstudio.core.diagnostics.report import build_report
    from convstudio.core.diagnostics.report_text import report_text

    report = build_report(data_dir=args.data_dir)
    print(json.dumps(report.as_dict(), indent=2) if args.json else report_text(report))
    return EXIT_OK if report.ok else EXIT_PROBLEMS
