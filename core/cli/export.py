"""``convstudio export``: a design or a trained run as PyTorch source, a program, ONNX or a summary.

``convstudio export RUN_DIR --format onnx --out model.onnx`` exports the run's
trained weights (best.pt unless ``--weights last``); a design file exports an
untrained model, and says so. The format follows from ``--out``'s suffix when
``--format`` is left out; summaries print to stdout without ``--out``.
Exit status: 0 written, 1 the export failed (a missing optional package, or the
exporter refused the model), 2 bad input (unreadable design or run, impossible
shapes, no trained weights, bad options).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from convstudio.core.export.formats import FORMAT_BY_SUFFIX as _FORMAT_BY_SUFFIX
from convstudio.core.export.formats import FORMATS
from convstudio.core.export.formats import SUMMARY_STYLES as _SUMMARIES
from convstudio.core.training.run_folder import WEIGHTS_CHOICES

EXIT_OK, EXIT_EXPORT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def add_export_parser(commands) -> None:
    """Register ``export`` on the CLI's subcommands."""
    export = commands.add_parser(
        "export", help="export a design or a trained run: PyTorch source, torch.export, TorchScript, ONNX, summary",
        description="Export a design file (untrained) or a run folder (its trained weights).",
    )
    export.add_argument("source", metavar="DESIGN.json|RUN_DIR")
    export.add_argument("--format", choices=list(FORMATS),
                        help="; ".join(f"{name}: {what}" for name, what in FORMATS.items())
                        + ". Default: from the suffix of --out")
    export.add_argument("--out", metavar="PATH", help="file to write (summaries print to stdout without it)")
    export.add_argument("--weights", choices=WEIGHTS_CHOICES,
                        help="with a run folder: best.pt (lowest validation loss; the default) "
                             "or checkpoint.pt (after the last epoch)")
    export.set_defaults(handler=run_export)


def _format(args: argparse.Namespace) -> str | None:
    if args.format:
        return args.format
    return _FORMAT_BY_SUFFIX.get(Path(args.out).suffix.lower()) if args.out else None


def _bad_input(message: str) -> int:
    print(f"convstudio export: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def run_export(args: argparse.Namespace) -> int:
    """Handler of ``convstudio export``."""
    from convstudio.core.export import ExportError, export_summary, model_summary
    from convstudio.core.export.formats import export_as
    from convstudio.core.export.common import output_file
    from convstudio.core.export.run_source import load_export_source, read_design

    fmt = _format(args)
    if fmt is None:
        return _bad_input("give --format (" + ", ".join(FORMATS) + ") or an --out file ending in "
                          + ", ".join(_FORMAT_BY_SUFFIX))
    if fmt not in _SUMMARIES and not args.out:
        return _bad_input(f"--format {fmt} writes a file: give --out PATH")
    # Reading the input: every failure here is the user's input, exit 2.
    try:
        out = output_file(args.out) if args.out else None
        if fmt in _SUMMARIES:
            design, _ = read_design(args.source)
        else:
            source = load_export_source(args.source, args.weights)
    except ExportError as error:
        return _bad_input(str(error))
    # Exporting: a failure here is the exporter's or the environment's, exit 1.
    try:
        if fmt in _SUMMARIES:
            if out is None:
                print(model_summary(design, _SUMMARIES[fmt]), end="")
                return EXIT_OK
            result = export_summary(design, out, _SUMMARIES[fmt])
        else:
            print(("exporting " if source.trained else "note: ") + source.describe(), file=sys.stderr)
            result = export_as(source, fmt, out)
    except ExportError as error:
        print(f"convstudio export: {error}", file=sys.stderr)
        return EXIT_EXPORT_FAILED
    print(result)
    return EXIT_OK
