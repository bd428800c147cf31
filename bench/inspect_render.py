"""Inspect view: time to re-render everything for a new image, CIFAR10 preset, CPU.

    python bench/inspect_render.py [--images 20] [--threads 1]

Times :func:`core.inspection.view.run_view`, which is what the Inspect view runs
on its worker thread when the image changes: the forward pass with hooks on every
convolution, pooling and activation, the top-5, Grad-CAM at the last convolution
(a backward pass), saliency (another), the effective receptive field of the
centre unit (another), and every picture the view shows (image, top-5, the
layer's 64 feature maps, the overlay, the receptive field, the filters, all the
histograms). The CIFAR10 preset (32x32x3, 1.1 M parameters) is built with its
seeded initial weights (training changes the numbers, not the work); the images
are the built-in dataset's test images. The same run times a bare forward pass
(``model.logits`` without gradients) as the baseline, and the converting of the
pictures into Qt pixmaps is not included (about a millisecond each). Prints the
median and the best per image, the split between inspecting and drawing, and
the ratio to the bare forward pass.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from convstudio.core.data.builtin_shapes import generate_shapes  # noqa: E402
from convstudio.core.inspection.images import PreparedImage  # noqa: E402
from convstudio.core.inspection.report import inspect_image  # noqa: E402
from convstudio.core.inspection.subject import load_design_subject  # noqa: E402
from convstudio.core.inspection.view import ViewOptions, run_view, view_pictures  # noqa: E402

CIFAR10 = Path(__file__).resolve().parents[1] / "presets" / "cifar10.json"


def _timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 gives steady figures)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    subject = load_design_subject(CIFAR10)
    images, _ = generate_shapes(args.images + 2, 20_240_602, 32)
    prepared = [PreparedImage(image, f"test image {n}", "") for n, image in enumerate(images)]
    options = ViewOptions()
    run_view(subject, prepared[-1], options)  # warm-up: first calls allocate and pick kernels
    run_view(subject, prepared[-2], options)

    whole, inspecting, drawing, bare = [], [], [], []
    for image in prepared[:args.images]:
        whole.append(_timed(run_view, subject, image, options))
        started = time.perf_counter()
        inspection = inspect_image(subject, image)
        inspecting.append(time.perf_counter() - started)
        drawing.append(_timed(view_pictures, inspection, options))
        batch = subject.normalise(image.pixels)
        with torch.no_grad():
            bare.append(_timed(subject.model.logits, batch))

    def ms(values):
        return f"median {statistics.median(values) * 1000:.1f} ms, best {min(values) * 1000:.1f} ms"

    print(f"CIFAR10 preset, CPU, {args.threads} torch thread(s), {args.images} new images")
    print(f"re-render on a new image (run_view): {ms(whole)}")
    print(f"  inspecting (forward with hooks, Grad-CAM, saliency, effective field): {ms(inspecting)}")
    print(f"  drawing every picture the view shows: {ms(drawing)}")
    print(f"bare forward pass (baseline): {ms(bare)}")
    print(f"ratio re-render / bare forward: {statistics.median(whole) / statistics.median(bare):.1f}x (medians)")


if __name__ == "__main__":
    main()
