"""Shape check speed: re-checking a 500-layer design, as the app does on every keystroke.

Builds a valid 500-layer design (conv 3x3 padding 1 + batch norm + ReLU blocks,
a max pooling now and then, flatten and a linear layer at the end) and times
``infer_shapes`` on it: warm-up, then many runs; prints the median and 95th
percentile in ms per check. The in-process baseline is the plainest possible
pass over the same design (a loop reading one attribute of each layer), timed
the same way; the ratio says how many such passes one check costs.

Target: under 5 ms per check.

    python bench/shape_check.py [--runs 200] [--layers 500]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from convstudio.core.design import Design
from convstudio.core.shapes import infer_shapes

TARGET_MS = 5.0


def long_design(layer_count: int = 500) -> Design:
    """A valid design of exactly ``layer_count`` layers (at least 10)."""
    pools = 6  # 128 -> 2 after six halvings
    blocks = (layer_count - 2 - pools) // 3
    extra = layer_count - 2 - pools - 3 * blocks  # 0-2 dropout layers to land on the exact count
    layers: list[dict] = []
    pool_every = max(1, blocks // pools)
    for block in range(blocks):
        layers += [
            {"kind": "conv2d", "out_channels": 16 + 16 * (block % 4), "kernel_size": 3, "padding": 1,
             "activation": "none"},
            {"kind": "batchnorm"},
            {"kind": "activation", "activation": "relu"},
        ]
        if (block + 1) % pool_every == 0 and sum(layer["kind"] == "maxpool2d" for layer in layers) < pools:
            layers.append({"kind": "maxpool2d", "kernel_size": 2})
    while sum(layer["kind"] == "maxpool2d" for layer in layers) < pools:
        layers.append({"kind": "maxpool2d", "kernel_size": 2})
    layers += [{"kind": "dropout", "p": 0.1}] * extra
    layers += [{"kind": "flatten"}, {"kind": "linear", "out_features": 10, "activation": "none"}]
    design = Design.model_validate({"name": "bench", "input": {"channels": 3, "height": 128, "width": 128},
                                    "layers": layers})
    assert len(design.layers) == layer_count, len(design.layers)
    return design


def time_ms(function: Callable[[], object], runs: int, warmup: int) -> list[float]:
    """Wall-clock milliseconds of each of ``runs`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1e3)
    return times


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--layers", type=int, default=500)
    args = parser.parse_args()

    design = long_design(args.layers)
    report = infer_shapes(design)
    assert report.valid, report.first_error()

    def baseline() -> int:
        count = 0
        for layer in design.layers:
            if layer.kind:
                count += 1
        return count

    check = time_ms(lambda: infer_shapes(design), args.runs, args.warmup)
    plain = time_ms(baseline, args.runs, args.warmup)
    median, median_plain = statistics.median(check), statistics.median(plain)
    print(f"design: {len(design.layers)} layers, output {report.output_shape}, "
          f"{report.total_params:,} parameters")
    print(f"infer_shapes: median {median:.3f} ms, p95 {p95(check):.3f} ms per check "
          f"({args.runs} runs after {args.warmup} warm-up)")
    print(f"baseline (loop reading layer.kind): median {median_plain:.4f} ms, p95 {p95(plain):.4f} ms")
    print(f"ratio infer_shapes / baseline: {median / median_plain:.0f}x")
    print(f"per layer: {median / len(design.layers) * 1e3:.2f} us")
    verdict = "met" if median < TARGET_MS else "MISSED"
    print(f"target under {TARGET_MS:g} ms per check: {verdict}")


if __name__ == "__main__":
    main()
