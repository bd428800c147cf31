"""``convstudio inspect``: feature maps, filters, histograms, saliency, Grad-CAM and a unit's receptive field as PNG.

Exit status: 0 the pictures and ``inspection.json`` were written; 2 bad input
(no such run or design, an unreadable image, an unknown layer, a class or test
index out of range), with one sentence saying what and how to fix it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from convstudio.core.cli.options import add_data_dir_option
from convstudio.core.training.run_folder import WEIGHTS_CHOICES

EXIT_WRITTEN, EXIT_BAD_INPUT = 0, 2


def add_inspect_parser(commands) -> None:
    """Register ``inspect`` on the CLI's subcommands."""
    inspect = commands.add_parser(
        "inspect", help="look inside a run or design on one image: feature maps, Grad-CAM, saliency (PNG + JSON)",
        description="Write the feature maps of every convolution, pooling and activation layer, the first "
                    "convolution's filters, activation histograms, saliency, Grad-CAM and one unit's receptive "
                    "field as PNG files, and the top-5 predictions and per-layer statistics as inspection.json.")
    inspect.add_argument("source", metavar="RUN_DIR|DESIGN.json",
                         help="a run folder (trained weights) or a design file (untrained, seeded)")
    which = inspect.add_mutually_exclusive_group(required=True)
    which.add_argument("--image", metavar="FILE", help="an image file, resized to the design's input")
    which.add_argument("--test-index", type=int, metavar="N", help="test image N (0-based) of the dataset")
    inspect.add_argument("--layer", metavar="NAME",
                         help="layer for Grad-CAM and the receptive field, e.g. conv3 or res1.body.conv1 "
                              "(default: the last convolution, or the outermost block that holds it)")
    inspect.add_argument("--class", dest="class_index", type=int, metavar="K",
                         help="class for saliency and Grad-CAM (default: the predicted class)")
    inspect.add_argument("--unit", metavar="ROW,COLUMN",
                         help="unit of --layer whose receptive field is drawn (default: the map's centre)")
    inspect.add_argument("--weights", choices=list(WEIGHTS_CHOICES),
                         help="a run's best or last weights (default: best when there are any)")
    inspect.add_argument("--sort-by-mean", action="store_true", help="order each layer's channels by mean activation")
    inspect.add_argument("--per-tile-scale", action="store_true",
                         help="give each feature map tile its own colour scale (default: one per layer)")
    inspect.add_argument("--out", required=True, metavar="DIR", help="folder to write the PNG files and JSON into")
    add_data_dir_option(inspect)
    inspect.set_defaults(handler=run_inspect)


def _unit(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        row, column = (int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--unit {text!r}: give a row and a column, e.g. --unit 4,7") from None
    return row, column


def run_inspect(args: argparse.Namespace) -> int:
    """Handler of ``convstudio inspect``."""
    from convstudio.core.inspection.images import dataset_image, read_image_file
    from convstudio.core.inspection.report import inspect_image, write_inspection
    from convstudio.core.inspection.subject import InspectionError, load_subject

    try:
        unit = _unit(args.unit)
        subject = load_subject(args.source, args.weights, need_data=args.test_index is not None)
        if args.image is not None:
            image = read_image_file(args.image, subject.design.input)
        else:
            image = dataset_image(subject.data, args.test_index, "test", subject.design.input)
        inspection = inspect_image(subject, image, args.layer, args.class_index, unit)
    except (InspectionError, ValueError) as error:
        print(f"convstudio inspect: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        written = write_inspection(inspection, args.out, shared_scale=not args.per_tile_scale,
                                   sort_by_mean=args.sort_by_mean)
    except OSError as error:
        print(f"convstudio inspect: cannot write into {args.out} ({error.strerror or error}); "
              "choose a folder you can write to", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{inspection.subject.description}, {image.source}" + (f" ({image.resize})" if image.resize else ""))
    for index, name, probability in inspection.top():
        label = name if name == f"class {index}" else f"{name} (class {index})"  # no names: say it once
        print(f"  {probability:7.2%}  {label}")
    print(f"Grad-CAM and saliency of {inspection.class_name} at {inspection.cam_layer}")
    print(f"wrote {len(written)} files to {Path(args.out)}")
    return EXIT_WRITTEN
