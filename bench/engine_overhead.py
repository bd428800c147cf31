"""Engine overhead: the training engine against a bare PyTorch loop, same process.

Both train the same model on the same on-device batches (core.data.DeviceBatches)
for the same steps; the engine has its records, control checks and optimizer-state
collection at its default rate switched on. Prints images/second of each and the
ratio engine / bare (target >= 0.97 on CPU, >= 0.95 on a GPU).

    python bench/engine_overhead.py [--device cpu|cuda] [--steps 60] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.nn import functional as F

from convstudio.core.builder import build_model
from convstudio.core.data import load_dataset
from convstudio.core.presets import load_preset
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.records import StepRecord
from convstudio.core.training.settings import TrainingSettings
from convstudio.core.training.setup import prepare_run


def bare_loop(design, settings, data, steps: int) -> float:
    """Images/second of the plainest loop over the same batches."""
    prepared = prepare_run(design, settings, data, build_model(design, seed=settings.seed))
    model, optimizer = prepared.model, prepared.optimizer
    model.train()
    done = 0
    started = None
    for epoch in range(10_000):
        for images, labels in prepared.train_batches.epoch(epoch):
            if done == settings.report_every:  # the same warm-up steps as the engine
                _sync(prepared.device)
                started = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model.logits(images), labels)
            loss.backward()
            optimizer.step()
            done += 1
            if done == steps + settings.report_every:
                loss.item()
                _sync(prepared.device)
                return steps * settings.batch_size / (time.perf_counter() - started)
    raise AssertionError("not enough data")


def engine_loop(design, settings, data, steps: int) -> float:
    """Images/second of the engine over the same batches, timed from its own step records."""
    run = TrainingRun(design, settings, data=data)
    # Records arrive in groups, one read-back per report_every steps: time the groups' arrival,
    # from the end of the first group (warm-up) to the group that completes ``steps`` more.
    first = settings.report_every
    last = first + steps
    arrivals = {}
    for record in run.records():
        if isinstance(record, StepRecord) and record.step in (first, last):
            arrivals[record.step] = time.perf_counter()
            if record.step == last:
                run.control.stop()
    return steps * settings.batch_size / (arrivals[last] - arrivals[first])


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="shapes_small")
    parser.add_argument("--steps", type=int, default=60, help="a multiple of report_every (10)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default); 1 is steadier on a busy machine")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    design = load_preset(args.preset)
    settings = TrainingSettings(device=args.device, batch_size=args.batch_size, epochs=10_000, mc_samples=1)
    data = load_dataset("shapes", limit=args.batch_size * (args.steps + 40), seed=0)
    bare, engine = [], []
    for _ in range(args.repeats):  # interleaved, so drifts in machine load hit both
        bare.append(bare_loop(design, settings, data, args.steps))
        engine.append(engine_loop(design, settings, data, args.steps))
    # Interference from other work only ever slows a run down, so the fastest of the
    # repeats is the best estimate of each loop's own speed (as timeit takes the minimum).
    b, e = max(bare), max(engine)
    print(f"device {args.device}, preset {args.preset}, batch {args.batch_size}, {args.steps} steps x {args.repeats}, "
          f"{torch.get_num_threads()} CPU threads")
    print(f"bare PyTorch loop: {b:,.0f} images/s  (runs: {', '.join(f'{x:,.0f}' for x in bare)})")
    print(f"engine:            {e:,.0f} images/s  (runs: {', '.join(f'{x:,.0f}' for x in engine)})")
    print(f"ratio engine/bare: {e / b:.3f} (best of {args.repeats}); "
          f"median ratio {statistics.median(engine) / statistics.median(bare):.3f}")


if __name__ == "__main__":
    main()
