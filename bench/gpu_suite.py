"""The GPU suite: one command that proves and measures the CUDA path, in at most 8 minutes on one GPU.

Runs, in this order, each part within what is left of ``--budget`` seconds
(a part that no longer fits is reported as skipped):

1. the ``cuda``-marked tests (autocast bf16/fp16 with the scaler, channels-last,
   deterministic resume, on-device augmentation, the app's worker process on
   CUDA, a one-process NCCL group under torchrun with SyncBN, Monte Carlo
   dropout, export of a CUDA-trained run, no host-device sync per step);
2. training throughput of the CIFAR10 preset in images per second for fp32,
   bf16 and fp16, each with and without channels-last and torch.compile, with
   peak GPU memory;
3. the engine against a bare PyTorch loop (bench/engine_overhead.py), the
   on-device data path against a DataLoader (bench/data_path.py), and the app
   with live charts against the headless engine (bench/dashboard_speed.py), each
   a ratio measured in this run;
4. the time until the CIFAR10 preset passes 90% validation accuracy on the
   built-in dataset.

Prints one Markdown table and writes it with the details as JSON to
``bench/results/gpu_suite-<device>-<date>.json``.

    python bench/gpu_suite.py                      # on the GPU
    python bench/gpu_suite.py --device cpu --quick # every part, tiny, on the CPU (under a minute; a test runs it)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))  # the other bench scripts, reused as modules
sys.path.insert(0, str(ROOT.parent))

import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

# The preset measured; --quick swaps in the small one so that every part runs in seconds on a CPU.
PRESET, QUICK_PRESET = "cifar10", "shapes_small"
CUDA_TESTS = ("tests/test_cuda_training.py", "tests/test_cuda_distributed.py", "tests/gui/test_cuda_worker.py")
TARGETS = {"throughput_bf16": 50_000, "engine_vs_bare": 0.97, "app_vs_headless": 0.95}


class Budget:
    """Seconds left for the suite; parts ask before they start."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def allows(self, seconds: float) -> bool:
        return self.left() >= seconds


class Table:
    """The suite's rows: what was measured, the figure, the target, and whether it was met."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.details: dict = {}

    def add(self, part: str, what: str, figure: str, target: str = "", met: bool | None = None) -> None:
        self.rows.append({"part": part, "what": what, "figure": figure, "target": target,
                          "met": met})

    def markdown(self) -> str:
        lines = ["| part | what | figure | target | met |", "| --- | --- | --- | --- | --- |"]
        for row in self.rows:
            met = {True: "yes", False: "NO", None: ""}[row["met"]]
            lines.append(f"| {row['part']} | {row['what']} | {row['figure']} | {row['target']} | {met} |")
        return "\n".join(lines)


def preset_for(quick: bool) -> str:
    return QUICK_PRESET if quick else PRESET


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----- 1. the cuda-marked tests ----------------------------------------------------------------


def cuda_tests(table: Table, budget: Budget, quick: bool) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "junit.xml"
        environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cuda",
                   f"--junitxml={report}", *CUDA_TESTS]
        started = time.perf_counter()
        try:
            done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True,
                                  timeout=max(60.0, budget.left() - (0 if quick else 200)))
        except subprocess.TimeoutExpired:
            table.add("cuda tests", "pytest -m cuda", "timed out", "all pass", False)
            return
        seconds = time.perf_counter() - started
        counts, failed = _junit_counts(report)
    table.details["cuda_tests"] = {"counts": counts, "failed": failed, "seconds": seconds,
                                   "output_tail": done.stdout[-4000:]}
    figure = (f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped "
              f"({seconds:.0f} s)")
    if failed:
        figure += "; failed: " + ", ".join(failed)
    all_ran = counts["skipped"] == 0 and counts["passed"] > 0
    table.add("cuda tests", "pytest -m cuda", figure, "all pass", None if not all_ran else not failed)


def _junit_counts(report: Path) -> tuple[dict, list[str]]:
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    failed: list[str] = []
    if not report.is_file():
        return counts, ["(pytest wrote no report)"]
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped":
                outcome = "skipped"
        counts[outcome] += 1
        if outcome == "failed":
            failed.append(case.get("name", "?"))
    return counts, failed


# ----- 2. throughput of the CIFAR10 preset -----------------------------------------------------


def preset_throughput(preset: str, device: torch.device, precision: str, channels_last: bool, compiled: bool,
                      batch_size: int, steps: int, warmup: int, data, quick: bool = False) -> tuple[float, float | None]:
    """(images per second, peak GPU memory in MiB) training ``preset`` with these choices."""
    from convstudio.core.builder import build_model
    from convstudio.core.data import DeviceBatches
    from convstudio.core.presets import load_preset
    from convstudio.core.training.engine import backward_and_step

    model = build_model(load_preset(preset), seed=0).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    # Quick mode compiles with aot_eager (graph capture, no code generation): the path, not the speed.
    forward = model.logits
    if compiled:
        forward = torch.compile(forward, backend="aot_eager" if quick else "inductor")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" and device.type == "cuda" else None
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    batches = DeviceBatches(data.train_images, data.train_labels, batch_size, device, data.mean, data.std,
                            shuffle=True, augmentation=None, seed=0, drop_last=True, channels_last=channels_last)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    done, epoch, started = 0, 0, None
    while done < warmup + steps:
        for images, labels in batches.epoch(epoch):
            if done == warmup:
                synchronise(device)
                started = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = F.cross_entropy(forward(images).float(), labels)
            backward_and_step(loss, optimizer, scaler)
            done += 1
            if done == warmup + steps:
                break
        epoch += 1
    synchronise(device)
    speed = steps * batch_size / (time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return speed, peak


def throughput(table: Table, budget: Budget, device: torch.device, quick: bool, data, compiles=(False,)) -> None:
    precisions = ["fp32", "bf16", "fp16"] if device.type == "cuda" else ["fp32", "bf16"]
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        precisions.remove("bf16")
    batch_size, steps, warmup = (512, 60, 15) if not quick else (32, 3, 1)
    results = table.details.setdefault("throughput", {})
    for compiled in compiles:
        for precision in precisions if not (quick and compiled) else ["fp32"]:
            for channels_last in (False, True) if not (quick and compiled) else (False,):
                name = f"{precision}{' channels-last' if channels_last else ''}{' compiled' if compiled else ''}"
                if not budget.allows(90 if compiled else 15):
                    table.add("throughput", name, "skipped (time)")
                    continue
                try:
                    speed, peak = preset_throughput(preset_for(quick), device, precision, channels_last, compiled,
                                                    batch_size, steps, warmup, data, quick)
                except Exception as error:  # noqa: BLE001 - one configuration failing must not end the suite
                    table.add("throughput", name, f"failed: {type(error).__name__}: {error}"[:200],
                              met=False)
                    continue
                results[name] = {"images_per_second": speed, "peak_memory_mib": peak}
                memory = f", peak {peak:,.0f} MiB" if peak is not None else ""
                is_target = precision == "bf16" and device.type == "cuda"
                table.add("throughput", f"{preset_for(quick)} preset, {name}, batch {batch_size}",
                          f"{speed:,.0f} img/s{memory}",
                          f">= {TARGETS['throughput_bf16']:,} img/s" if is_target else "",
                          speed >= TARGETS["throughput_bf16"] if is_target and not quick else None)


# ----- 3. ratios measured in this run ----------------------------------------------------------


def engine_vs_bare(table: Table, budget: Budget, device: torch.device, quick: bool, data) -> None:
    import engine_overhead

    from convstudio.core.presets import load_preset
    from convstudio.core.training.settings import TrainingSettings

    if not budget.allows(30):
        table.add("engine / bare loop", preset_for(quick), "skipped (time)")
        return
    batch_size, steps, repeats = (512, 60, 3) if not quick else (32, 10, 1)
    design = load_preset(preset_for(quick))
    settings = TrainingSettings(device=device.type, batch_size=batch_size, epochs=10_000, mc_samples=1,
                                precision="fp32", channels_last="off")
    bare, engine = [], []
    for _ in range(repeats):  # interleaved: drifts in load hit both
        bare.append(engine_overhead.bare_loop(design, settings, data, steps))
        engine.append(engine_overhead.engine_loop(design, settings, data, steps))
    ratio = max(engine) / max(bare)
    table.details["engine_vs_bare"] = {"bare": bare, "engine": engine}
    table.add("engine / bare loop", f"{preset_for(quick)} preset, fp32, batch {batch_size}, state probes on",
              f"{ratio:.3f} ({max(engine):,.0f} vs {max(bare):,.0f} img/s)", f">= {TARGETS['engine_vs_bare']}",
              ratio >= TARGETS["engine_vs_bare"] if not quick else None)


def data_path_ratio(table: Table, budget: Budget, device: torch.device, quick: bool, data) -> None:
    import data_path

    if not budget.allows(30):
        table.add("on-device data / DataLoader", "", "skipped (time)")
        return
    count = 10_000 if not quick else 256
    images, labels = data.train_images[:count], data.train_labels[:count]
    batch_size, epochs = (256, 2) if not quick else (64, 1)
    ours = data_path.bench_device_batches(images, labels, data.mean, data.std, batch_size, device, epochs)
    theirs = data_path.bench_dataloader(images, labels, data.mean, data.std, batch_size, device, epochs, 2)
    table.details["data_path"] = {"device_batches": ours, "dataloader_2_workers": theirs}
    table.add("on-device data / DataLoader", f"{count:,} images, augmented, batch {batch_size}, 2 workers",
              f"{ours / theirs:.1f}x ({ours:,.0f} vs {theirs:,.0f} img/s)", "> 1", ours > theirs if not quick else None)


def app_vs_headless(table: Table, budget: Budget, device: torch.device, quick: bool) -> None:
    if not budget.allows(60 if quick else 90):
        table.add("app / headless", "", "skipped (time)")
        return
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import dashboard_speed
    from PySide6.QtWidgets import QApplication

    from convstudio.core.presets import load_preset
    from convstudio.core.training.settings import TrainingSettings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    design = load_preset(preset_for(quick))
    limit, epochs, batch_size = (20_000, 3, 256) if not quick else (400, 1, 32)
    settings = TrainingSettings(dataset="shapes", data_limit=limit, epochs=epochs, batch_size=batch_size,
                                mc_samples=2, device=device.type, precision="auto", channels_last="auto")
    with tempfile.TemporaryDirectory() as scratch:
        headless = dashboard_speed.headless(design, settings, Path(scratch) / "headless")
        shown, probe, _points = dashboard_speed.dashboard(app, design, settings, Path(scratch) / "app", "process")
    worst, p99 = probe.summary() if probe.lateness else (0.0, 0.0)
    ratio = shown / headless
    table.details["app_vs_headless"] = {"headless": headless, "app": shown, "gui_lateness_max_ms": worst,
                                        "gui_lateness_p99_ms": p99}
    table.add("app / headless",
              f"{preset_for(quick)} preset, {limit:,} images x {epochs} epochs, charts live, offscreen",
              f"{ratio:.3f} ({shown:,.0f} vs {headless:,.0f} img/s; GUI late at most {worst:.0f} ms)",
              f">= {TARGETS['app_vs_headless']}", ratio >= TARGETS["app_vs_headless"] if not quick else None)


# ----- 4. time to 90% validation accuracy ------------------------------------------------------


def time_to_accuracy(table: Table, budget: Budget, device: torch.device, quick: bool, data) -> None:
    from convstudio.core.presets import load_preset
    from convstudio.core.training.engine import TrainingRun
    from convstudio.core.training.records import EpochRecord, RunEnded
    from convstudio.core.training.settings import TrainingSettings

    if not budget.allows(20):
        table.add("time to 90% validation accuracy", "", "skipped (time)")
        return
    epochs, batch_size = (15, 512) if not quick else (1, 32)
    settings = TrainingSettings(dataset="shapes", epochs=epochs, batch_size=batch_size, optimizer="adam",
                                learning_rate=2e-3, schedule="one_cycle", mc_samples=1, device=device.type,
                                precision="auto", channels_last="auto")
    run = TrainingRun(load_preset(preset_for(quick)), settings, data=data)
    started = time.perf_counter()
    reached, best, epochs_run = None, 0.0, 0
    for record in run.records():
        if isinstance(record, EpochRecord):
            epochs_run = record.epoch + 1
            best = max(best, record.val_accuracy)
            if record.val_accuracy >= 0.9 and reached is None:
                reached = time.perf_counter() - started
                run.control.stop()
            elif budget.left() < 15:
                run.control.stop()
        elif isinstance(record, RunEnded):
            break
    table.details["time_to_90"] = {"seconds": reached, "epochs": epochs_run, "best_val_accuracy": best}
    figure = (f"{reached:.1f} s ({epochs_run} epochs)" if reached is not None
              else f"not reached: best {best:.3f} after {epochs_run} epoch(s)")
    table.add("time to 90% validation accuracy",
              f"{preset_for(quick)} preset on the built-in shapes, batch {batch_size}",
              figure, "reached", reached is not None if not quick else None)


# ----- the suite -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cuda (default when present) or cpu")
    parser.add_argument("--quick", action="store_true", help="every part at a tiny size (for CPUs and tests)")
    parser.add_argument("--budget", type=float,
                        help="seconds for the whole suite (default 460); --quick runs every part whatever it takes")
    parser.add_argument("--out", default=str(BENCH / "results"), help="folder for the JSON (default bench/results)")
    parser.add_argument("--skip", default="", help="comma-separated parts to leave out: tests,throughput,engine,"
                                                   "data,app,accuracy,compile")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_suite: no CUDA device here; run with --device cpu --quick", file=sys.stderr)
        return 2
    began = time.perf_counter()
    # Quick mode is the test that keeps every part working: it skips none, however busy the machine is.
    budget = Budget(args.budget or (3600 if args.quick else 460))
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    from convstudio.core.data import load_dataset

    data = load_dataset("shapes", limit=None if not args.quick else 600, seed=0)
    table = Table()
    parts = [
        ("tests", lambda: cuda_tests(table, budget, args.quick)),
        ("throughput", lambda: throughput(table, budget, device, args.quick, data)),
        ("engine", lambda: engine_vs_bare(table, budget, device, args.quick, data)),
        ("data", lambda: data_path_ratio(table, budget, device, args.quick, data)),
        ("app", lambda: app_vs_headless(table, budget, device, args.quick)),
        ("accuracy", lambda: time_to_accuracy(table, budget, device, args.quick, data)),
        # Last: each configuration compiles for tens of seconds; what the budget no longer allows is skipped.
        ("compile", lambda: throughput(table, budget, device, args.quick, data, compiles=(True,))),
    ]
    for name, part in parts:
        if name in skip:
            continue
        try:
            part()
        except Exception as error:  # noqa: BLE001 - the table says which part broke, the rest still runs
            table.add(name, "part failed", f"{type(error).__name__}: {error}"[:300], met=False)
    seconds = time.perf_counter() - began
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    stamp = datetime.now(timezone.utc)
    print(f"## GPU suite: {name} ({device}), {stamp:%Y-%m-%d %H:%M} UTC, torch {torch.__version__}"
          f"{', quick' if args.quick else ''}, {seconds:.0f} s")
    print()
    print(table.markdown())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = out / f"gpu_suite-{device.type}-{stamp:%Y%m%d-%H%M%S}.json"
    from convstudio.core.atomic import atomic_write_text

    atomic_write_text(result, json.dumps({
        "date": stamp.isoformat(), "device": str(device), "device_name": name, "torch": torch.__version__,
        "quick": args.quick, "seconds": seconds, "rows": table.rows, "details": table.details,
    }, indent=1, default=str))
    print(f"\nwritten: {result}")
    return 0 if all(row["met"] is not False for row in table.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
