"""Transfer learning on the built-in dataset: fine-tuning against training from scratch, over several seeds.

The README's figure (fine-tuning reaches about 0.41 test accuracy against about
0.27 from scratch) comes from here. The setup is ``tests/test_transfer.py``'s:

- dataset A: ``shapes`` (3,000 images, seed 1), the test's small CNN (two
  convolutions with batch norm, a 10-class head), trained 3 epochs;
- dataset B: 5 classes of ``shapes`` (silhouettes 5-9, from 3,000 images of
  seed 3), 12 training images per class, relabelled 0-4 (a new 5-class head);
- both arms: ``compare_finetune_vs_scratch`` (the same settings, 6 epochs,
  batch 20, learning rate 3e-3), one comparison per seed (``--seeds``, the
  first is the test's seed 4).

A second table (left out with ``--quick``) pre-trains on classes 0-4 only, so
that B's classes are new to the network, as the lecture's claim has it.
Test accuracy is on B's test images (about 500, the five classes).

    python bench/transfer_vs_scratch.py [--seeds 4,5,6] [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from convstudio.core.data import load_dataset
from convstudio.core.design import Design
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.finetune import compare_finetune_vs_scratch
from convstudio.core.training.records import EndReason
from convstudio.core.training.settings import TrainingSettings
from convstudio.core.training.transfer import class_subset

B_CLASSES = [5, 6, 7, 8, 9]


def small_cnn(classes: int) -> Design:
    """tests/test_transfer.py's design: two conv + batch-norm + pooling stages and a linear head."""
    return Design.model_validate({
        "input": {"channels": 3, "height": 32, "width": 32},
        "layers": [
            {"kind": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
            {"kind": "batchnorm"},
            {"kind": "maxpool2d", "kernel_size": 2},
            {"kind": "conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1},
            {"kind": "batchnorm"},
            {"kind": "maxpool2d", "kernel_size": 4},
            {"kind": "flatten"},
            {"kind": "linear", "out_features": classes, "activation": "none"},
        ],
    })


def pretrain(folder: Path, classes: list[int] | None, epochs: int) -> Path:
    """Train the small CNN on dataset A (all ten classes, or only ``classes``); returns the run folder."""
    data = load_dataset("shapes", limit=3000, seed=1)
    if classes is not None:
        data = class_subset(data, classes, per_class=None)
    settings = TrainingSettings(epochs=epochs, batch_size=64, learning_rate=3e-3, mc_samples=1)
    ended = TrainingRun(small_cnn(data.num_classes), settings, folder, data=data).run()
    assert ended.reason == EndReason.FINISHED, ended.message
    return folder


def compare(source: Path, seeds: list[int], epochs: int, scratch: Path) -> list[tuple[int, float, float]]:
    """(seed, fine-tuned test accuracy, from-scratch test accuracy) per seed."""
    data = class_subset(load_dataset("shapes", limit=3000, seed=3), B_CLASSES, per_class=12, seed=3)
    rows = []
    for seed in seeds:
        settings = TrainingSettings(epochs=epochs, batch_size=20, learning_rate=3e-3, mc_samples=1, seed=seed)
        result = compare_finetune_vs_scratch(small_cnn(len(B_CLASSES)), settings, source, data=data,
                                             runs_root=scratch / f"seed{seed}")
        rows.append((seed, result.finetuned.ended.test_accuracy, result.scratch.ended.test_accuracy))
    return rows


def print_table(title: str, rows: list[tuple[int, float, float]]) -> None:
    print(f"{title}\n")
    print("| seed | fine-tuned | from scratch | difference |")
    print("| --- | --- | --- | --- |")
    for seed, tuned, fresh in rows:
        print(f"| {seed} | {tuned:.3f} | {fresh:.3f} | {tuned - fresh:+.3f} |")
    tuned = statistics.mean(row[1] for row in rows)
    fresh = statistics.mean(row[2] for row in rows)
    print(f"| mean of {len(rows)} | {tuned:.3f} | {fresh:.3f} | {tuned - fresh:+.3f} |\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="4,5,6", help="training seeds of the comparisons, comma-separated")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 gives steady timings)")
    parser.add_argument("--quick", action="store_true",
                        help="a short check: one seed, A trained 1 epoch, B 2 epochs, no second table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    pretrain_epochs, finetune_epochs = (1, 2) if args.quick else (3, 6)
    if args.quick:
        seeds = seeds[:1]

    print("$ python bench/transfer_vs_scratch.py " + " ".join(sys.argv[1:]))
    print(f"torch {torch.__version__}, {args.threads} thread(s); A trained {pretrain_epochs} epochs, "
          f"B {finetune_epochs} epochs (12 images per class, 5 classes); test accuracy on B's test images\n")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        source = pretrain(root / "A-all", None, pretrain_epochs)
        print_table("A: all ten classes (as tests/test_transfer.py)",
                    compare(source, seeds, finetune_epochs, root / "B-all"))
        if not args.quick:
            source = pretrain(root / "A-other", [0, 1, 2, 3, 4], pretrain_epochs)
            print_table("A: classes 0-4 only (B's classes 5-9 are new to the network)",
                        compare(source, seeds, finetune_epochs, root / "B-other"))
    print(f"{time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
