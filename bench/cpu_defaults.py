"""CPU defaults: channels-last and bf16 autocast against plain fp32, for every preset, on this machine.

For each preset (random images of its input shape, its own number of classes),
times training steps (forward, cross-entropy, backward, SGD step) in four
configurations: fp32 or bf16 autocast, contiguous or channels-last. Configurations
alternate within each repeat so that load from other processes hits all of them
alike; the figure is the best of ``--repeats`` (interference only slows a run).
Prints images per second, each configuration's speed relative to fp32
contiguous, and what ``auto`` chooses on this machine
(:func:`convstudio.core.training.fast_defaults.cpu_choice`), with the best
configuration beside it.

    python bench/cpu_defaults.py [--batch-size 64] [--steps 6] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from convstudio.core.builder import build_model  # noqa: E402
from convstudio.core.presets import load_preset, preset_keys  # noqa: E402
from convstudio.core.shapes import infer_shapes  # noqa: E402
from convstudio.core.training.fast_defaults import cpu_choice, native_bf16_cpu  # noqa: E402

CONFIGURATIONS = (("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True))


def step_seconds(model, images, labels, precision: str, steps: int) -> float:
    """Seconds per training step, after two untimed steps."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    for number in range(steps + 2):
        if number == 2:
            started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = F.cross_entropy(model(images).float(), labels)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - started) / steps


def measure(name: str, batch_size: int, steps: int, repeats: int) -> dict[tuple[str, bool], float] | None:
    """Best images per second of each configuration for preset ``name`` (None: not a 2-D image design)."""
    design = load_preset(name)
    shape = tuple(design.input.shape)
    if len(shape) != 3:
        return None  # channels-last is for 4-D (N, C, H, W) tensors
    classes = infer_shapes(design).output_shape[0]
    generator = torch.Generator().manual_seed(0)
    images = torch.randn((batch_size, *shape), generator=generator)
    labels = torch.randint(0, classes, (batch_size,), generator=generator)
    best: dict[tuple[str, bool], float] = {}
    for _ in range(repeats):
        for precision, channels_last in CONFIGURATIONS:
            model = build_model(design, seed=0)
            batch = images
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
                batch = images.contiguous(memory_format=torch.channels_last)
            speed = batch_size / step_seconds(model, batch, labels, precision, steps)
            best[(precision, channels_last)] = max(best.get((precision, channels_last), 0.0), speed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per configuration and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--presets", help="comma-separated preset names (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.presets.split(",") if args.presets else preset_keys()
    precision, channels_last, reason = cpu_choice()
    print(f"CPU: {torch.backends.cpu.get_cpu_capability()}, native bf16: {native_bf16_cpu()}, "
          f"{torch.get_num_threads()} threads, batch {args.batch_size}")
    print(f"auto chooses: {precision}, channels-last {'on' if channels_last else 'off'} ({reason})")
    print()
    print("| preset | fp32 | fp32 channels-last | bf16 | bf16 channels-last | best | auto / best |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        best = measure(name, args.batch_size, args.steps, args.repeats)
        if best is None:
            print(f"| {name} | (3-D input: not measured) | | | | | |")
            continue
        base = best[("fp32", False)]
        cells = [f"{best[key]:,.0f} img/s" if key == ("fp32", False) else f"{best[key] / base:.2f}x"
                 for key in CONFIGURATIONS]
        fastest = max(best, key=best.get)
        label = f"{fastest[0]}{' channels-last' if fastest[1] else ''}"
        print(f"| {name} | {' | '.join(cells)} | {label} | {best[(precision, channels_last)] / best[fastest]:.2f} |")


if __name__ == "__main__":
    main()
