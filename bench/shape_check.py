"""Shape check speed: re-checking a 500-layer design, as the app does on every keystroke.

Builds a valid 500-layer design (conv 3x3 padding 1 + batch norm + ReLU blocks,
a max pooling now and then, flatten and a linear layer at the end) and times
``infer_shapes`` on it: warm-up, then many runs; prints the median and 95th
percentile in ms per check. The in-process baseline is the plainest possible
pass over the same design (a loop reading one attribute of each layer), timed
the same way; the ratio says how many such passes one check costs.

Target: under 5 ms per check.

The same is then timed on a 500-layer design built of ResNet basic blocks
(residual blocks with a 1x1 projection shortcut where the size changes, every
layer inside counted): the full check, and the incremental ``recheck`` after
an edit inside one block in the middle, as the designer runs it.

    python bench/shape_check.py [--runs 200] [--layers 500]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from convstudio.core import block_editing
from convstudio.core.design import Design
from convstudio.core.shapes import infer_shapes, recheck

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


def _basic_block(channels: int, stride: int, projection: bool) -> dict:
    """A ResNet basic block: two 3x3 convolutions with batch norm, a projection shortcut where needed."""
    conv = {"kind": "conv2d", "kernel_size": 3, "padding": 1, "bias": False, "activation": "none"}
    block = {"kind": "residual", "body": [
        {**conv, "out_channels": channels, "stride": stride}, {"kind": "batchnorm"},
        {"kind": "activation", "activation": "relu"}, {**conv, "out_channels": channels}, {"kind": "batchnorm"}]}
    if projection:
        block["shortcut"] = [{"kind": "conv2d", "out_channels": channels, "kernel_size": 1, "stride": stride,
                              "bias": False, "activation": "none"}, {"kind": "batchnorm"}]
    return block


def count_layers(layers: list[dict]) -> int:
    """Every layer, blocks and the layers inside them included."""
    return sum(1 + count_layers(layer.get("body", [])) + count_layers(layer.get("shortcut", []))
               for layer in layers)


def block_design(layer_count: int = 500) -> Design:
    """A valid design of about ``layer_count`` layers, almost all inside residual blocks."""
    layers: list[dict] = [{"kind": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1}]
    channels, number = 16, 0
    while count_layers(layers) + 9 + 3 <= layer_count:
        # Stages of 16 blocks, each doubling the channels and halving the size.
        stage_change = number and number % 16 == 0 and channels < 512
        stride = 2 if stage_change else 1
        channels = channels * 2 if stage_change else channels
        layers.append(_basic_block(channels, stride, projection=bool(stage_change)))
        number += 1
    while count_layers(layers) + 3 < layer_count:
        layers.append({"kind": "dropout", "p": 0.1})
    layers += [{"kind": "globalavgpool"}, {"kind": "flatten"}, {"kind": "linear", "out_features": 10}]
    return Design.model_validate({"name": "bench blocks", "input": {"channels": 3, "height": 128, "width": 128},
                                  "layers": layers})


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

    blocks = block_design(args.layers)
    blocks_report = infer_shapes(blocks)
    assert blocks_report.valid, blocks_report.first_error()
    middle = len(blocks.layers) // 2
    while blocks.layers[middle].kind != "residual":
        middle += 1
    edited = block_editing.set_field_at(blocks, (middle, "body", 1), "eps", 1e-3)
    layer_total = count_layers([layer.model_dump() for layer in blocks.layers])
    full = time_ms(lambda: infer_shapes(edited), args.runs, args.warmup)
    again = time_ms(lambda: recheck(edited, blocks, blocks_report), args.runs, args.warmup)
    print(f"design with blocks: {layer_total} layers ({len(blocks.layers)} top-level, "
          f"{sum(layer.kind == 'residual' for layer in blocks.layers)} residual blocks), "
          f"{blocks_report.total_params:,} parameters")
    print(f"infer_shapes (blocks): median {statistics.median(full):.3f} ms, p95 {p95(full):.3f} ms per check")
    print(f"recheck after an edit inside block {middle + 1}: median {statistics.median(again):.3f} ms, "
          f"p95 {p95(again):.3f} ms per check")
    print(f"ratio full check with blocks / plain full check: {statistics.median(full) / median:.2f}x; "
          f"recheck with blocks / plain full check: {statistics.median(again) / median:.3f}x")
    verdict = "met" if statistics.median(again) < TARGET_MS else "MISSED"
    print(f"target under {TARGET_MS:g} ms per recheck with blocks: {verdict}")


if __name__ == "__main__":
    main()
