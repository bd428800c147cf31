"""The built-in ``shapes`` dataset: how fast it is generated, and what a linear model and small CNNs reach on it.

The README's figures on the built-in dataset come from here:

- generating 20,000 images: CPU seconds of one thread, and wall seconds;
- a linear classifier on the raw (normalised) pixels and a small CNN (three
  conv + batch-norm + ReLU + max-pool blocks), trained as in
  ``tests/test_data_shapes.py`` (6,000 training images of seed 1, 1,000 test
  images of seed 2, Adam with a one-cycle schedule, batch 64; the linear model
  10 epochs, the CNN 3: :func:`convstudio.core.lab.dataset_baselines.linear_vs_cnn`),
  one row per initialisation seed (``--seeds``);
- the ``shapes_small`` preset trained by the engine as in
  ``tests/test_training_engine.py`` (6,000 images with a 10% validation split,
  6 epochs, batch 64, learning rate 3e-3): best validation accuracy, test
  accuracy and wall seconds.

    python bench/builtin_dataset_baselines.py [--seeds 0,1,2] [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from convstudio.core.data import generate_shapes, load_dataset
from convstudio.core.lab.dataset_baselines import linear_vs_cnn
from convstudio.core.presets import load_preset
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.records import EpochRecord, RunEnded
from convstudio.core.training.settings import TrainingSettings


def generation(count: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) to generate ``count`` images after a warm-up."""
    generate_shapes(64, seed=0)
    cpu, wall = time.process_time(), time.perf_counter()
    generate_shapes(count, seed=1)
    return time.process_time() - cpu, time.perf_counter() - wall


def baselines(seeds: list[int], train_count: int, linear_epochs: int, cnn_epochs: int) -> list[tuple]:
    """(seed, linear train accuracy, linear test accuracy, CNN test accuracy, seconds) per seed."""
    rows = []
    for seed in seeds:
        started = time.perf_counter()
        result = linear_vs_cnn(train_count, 1000, linear_epochs, cnn_epochs, seed)
        rows.append((seed, result.linear_train, result.linear_test, result.cnn_test, time.perf_counter() - started))
    return rows


def preset(limit: int, epochs: int) -> tuple[float, float, float]:
    """(best validation accuracy, test accuracy, wall seconds) of shapes_small trained by the engine."""
    data = load_dataset("shapes", limit=limit, seed=0)
    settings = TrainingSettings(epochs=epochs, batch_size=64, learning_rate=3e-3, mc_samples=2)
    started = time.perf_counter()
    records = list(TrainingRun(load_preset("shapes_small"), settings, data=data).records())
    seconds = time.perf_counter() - started
    best = max(record.val_accuracy for record in records if isinstance(record, EpochRecord))
    ended = records[-1]
    assert isinstance(ended, RunEnded), ended
    return best, ended.test_accuracy, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="initialisation seeds of the linear model and CNN")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 gives steady timings)")
    parser.add_argument("--quick", action="store_true",
                        help="a short check: one seed, 2,000 images, 3/1 epochs, the preset 2 epochs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    count, linear_epochs, cnn_epochs, preset_epochs = 6000, 10, 3, 6
    if args.quick:
        seeds, count, linear_epochs, cnn_epochs, preset_epochs = seeds[:1], 2000, 3, 1, 2

    print("$ python bench/builtin_dataset_baselines.py " + " ".join(sys.argv[1:]))
    print(f"torch {torch.__version__}, {args.threads} thread(s)\n")
    cpu, wall = generation(20_000)
    print(f"generating 20,000 images: {cpu:.1f} s of CPU time, {wall:.1f} s wall\n")

    rows = baselines(seeds, count, linear_epochs, cnn_epochs)
    print(f"{count:,} training images, 1,000 test images; linear model {linear_epochs} epochs, "
          f"CNN {cnn_epochs} epochs (chance: 0.100)\n")
    print("| seed | linear, train accuracy | linear, test accuracy | small CNN, test accuracy | both trained in s |")
    print("| --- | --- | --- | --- | --- |")
    for seed, linear_train, linear_test, cnn_test, seconds in rows:
        print(f"| {seed} | {linear_train:.3f} | {linear_test:.3f} | {cnn_test:.3f} | {seconds:.1f} |")
    means = [statistics.mean(row[i] for row in rows) for i in range(1, 5)]
    print(f"| mean of {len(rows)} | {means[0]:.3f} | {means[1]:.3f} | {means[2]:.3f} | {means[3]:.1f} |\n")

    best, test, seconds = preset(count, preset_epochs)
    print(f"shapes_small preset, engine, {count:,} images (10% validation), {preset_epochs} epochs, batch 64:\n")
    print("| best validation accuracy | test accuracy | wall seconds |")
    print("| --- | --- | --- |")
    print(f"| {best:.3f} | {test:.3f} | {seconds:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
