"""Soak test: kill ``convstudio train`` with SIGKILL at random moments, resume, and check what is left.

Each trial starts a short run as a child process and kills it (``kill -9``: no
handler runs) at one of three kinds of moment, in turn:

- before the first checkpoint: at a random time (up to 1 s) after the run
  folder appears, before ``checkpoint.pt`` does;
- during a checkpoint write: the moment the temporary file of an atomic write
  of ``checkpoint.pt`` or ``best.pt`` appears in the folder;
- at a random time in the run, once its folder exists.

After the kill, every file must parse (``run.json``, the design, the settings,
each checkpoint that exists, the JSON lines but a torn last one); then
``convstudio train --resume`` must finish the run, after which every line of
``metrics.jsonl`` and ``steps.jsonl`` parses, there is exactly one metrics row per
epoch (1..N) and one step row per step (1..N x batches), ``run.json`` says
finished, the checkpoint holds epoch N and no temporary file is left. Prints
one line per trial and "N of 20 kills resumed to a complete, parseable run".

    python bench/soak_kill.py [--trials 20] [--epochs 3] [--seed 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from convstudio.core.design import Design, save_design
from convstudio.core.training.run_folder import load_checkpoint

KINDS = ("before the first checkpoint", "during a checkpoint write", "at a random moment")
IMAGES, BATCH = 200, 16  # 180 training images after the validation split: 12 batches per epoch


def soak_design() -> Design:
    """Small to train, but a checkpoint of about 6 MB (0.5M parameters with Adam's state), so writes take a while."""
    return Design.model_validate({
        "name": "soak",
        "input": {"channels": 3, "height": 32, "width": 32},
        "layers": [
            {"kind": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1},
            {"kind": "flatten"},
            {"kind": "linear", "out_features": 256},
            {"kind": "linear", "out_features": 10, "activation": "none"},
        ],
    })


def train_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "convstudio", "train", *arguments]


def kill_at(kind: str, child: subprocess.Popen, run_dir: Path, rng: random.Random, run_seconds: float) -> str:
    """Wait for the moment of ``kind`` and SIGKILL the child; returns what the folder held when it died."""
    deadline = time.monotonic() + 600
    # Every moment is after the run folder exists: before it, there is nothing to resume (see trial()).
    while not (run_dir / "run.json").exists() and child.poll() is None:
        time.sleep(0.005)
    if kind == KINDS[0]:
        time.sleep(rng.uniform(0, 1.0))
        if (run_dir / "checkpoint.pt").exists():  # too late: the first epoch was quick; kill at once anyway
            child.kill()
            return "checkpoint already written"
    elif kind == KINDS[1]:
        while child.poll() is None and time.monotonic() < deadline:
            try:
                names = os.listdir(run_dir)
            except FileNotFoundError:
                names = []
            if any(name.startswith((".checkpoint.pt.", ".best.pt.")) and name.endswith(".tmp") for name in names):
                break
    else:
        time.sleep(rng.uniform(0, run_seconds * 0.8))
    child.kill()
    child.wait()
    held = sorted(os.listdir(run_dir)) if run_dir.exists() else []
    return ", ".join(held) or "nothing"


def check_after_kill(run_dir: Path) -> list[str]:
    """Every file a kill left must parse (a torn last JSON line excepted: readers skip it)."""
    problems = []
    for name in ("run.json", "design.json", "settings.json"):
        path = run_dir / name
        if path.exists():
            try:
                json.loads(path.read_text())
            except ValueError as error:
                problems.append(f"{name}: {error}")
    for name in ("checkpoint.pt", "best.pt"):
        if (run_dir / name).exists():
            try:
                load_checkpoint(run_dir / name)
            except Exception as error:  # noqa: BLE001 - any failure to read is the finding
                problems.append(f"{name}: {error}")
    for name in ("metrics.jsonl", "steps.jsonl"):
        path = run_dir / name
        lines = path.read_text().splitlines() if path.exists() else []
        for number, line in enumerate(lines[:-1], start=1):
            try:
                json.loads(line)
            except ValueError:
                problems.append(f"{name} line {number} does not parse")
    return problems


def check_finished(run_dir: Path, epochs: int) -> list[str]:
    """The resumed run is complete: one row per epoch and per step, finished, nothing temporary left."""
    problems = check_after_kill(run_dir)
    rows = {}
    for name in ("metrics.jsonl", "steps.jsonl"):
        rows[name] = []
        for number, line in enumerate((run_dir / name).read_text().splitlines(), start=1):
            try:
                rows[name].append(json.loads(line))
            except ValueError:
                problems.append(f"{name} line {number} does not parse after the resume")
    metric_epochs = [row["epoch"] for row in rows["metrics.jsonl"]]
    if metric_epochs != list(range(1, epochs + 1)):
        problems.append(f"metrics rows for epochs {metric_epochs}, not 1..{epochs}")
    steps = [row["step"] for row in rows["steps.jsonl"]]
    if steps != list(range(1, len(steps) + 1)) or len(steps) % epochs:
        problems.append(f"steps.jsonl holds steps {steps[:3]}...{steps[-3:]} ({len(steps)}), not 1..N once each")
    status = json.loads((run_dir / "run.json").read_text())
    if status.get("reason") != "finished":
        problems.append(f"run.json says {status.get('status')} / {status.get('reason')}")
    if load_checkpoint(run_dir / "checkpoint.pt")["epoch"] != epochs:
        problems.append("checkpoint.pt does not hold the last epoch")
    leftovers = [path.name for path in run_dir.glob(".*.tmp")]
    if leftovers:
        problems.append(f"temporary files left: {leftovers}")
    return problems


def trial(number: int, kind: str, root: Path, design_file: Path, epochs: int, rng: random.Random,
          run_seconds: float) -> tuple[bool, str]:
    run_dir = root / f"run{number:02d}"
    child = subprocess.Popen(train_command(str(design_file), "--dataset", "shapes", "--limit", str(IMAGES),
                                           "--batch-size", str(BATCH), "--epochs", str(epochs), "--mc-samples", "1",
                                           "--device", "cpu", "--out", str(run_dir)),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    held = kill_at(kind, child, run_dir, rng, run_seconds)
    problems = check_after_kill(run_dir)
    if not (run_dir / "design.json").exists():
        # Killed before the run folder was written (while Python and torch loaded): there is nothing to
        # resume, and the user runs the command again. The soak's moments start after the folder exists.
        return False, f"killed before the run folder existed ({held})"
    resumed = subprocess.run(train_command("--resume", str(run_dir)), capture_output=True, text=True, timeout=900)
    if resumed.returncode != 0:
        problems.append(f"--resume exited {resumed.returncode}: {resumed.stderr.strip()[-300:]}")
    else:
        problems += check_finished(run_dir, epochs)
    temporary = "a write's temporary file was there" if ".tmp" in held else "no temporary file"
    return not problems, f"killed {kind} ({temporary}); " + ("; ".join(problems) if problems else "resumed, complete")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the run folders here (default: a temporary folder)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as temporary:
        root = args.keep or Path(temporary)
        root.mkdir(parents=True, exist_ok=True)
        os.environ["CONVSTUDIO_RUNS"] = str(root / "runs-root")
        os.environ.setdefault("OMP_NUM_THREADS", "1")  # the children: steady on a shared machine
        design_file = root / "soak.json"
        save_design(soak_design(), design_file)
        # One uninterrupted run measures how long a run takes, for the random moments.
        started = time.monotonic()
        subprocess.run(train_command(str(design_file), "--dataset", "shapes", "--limit", str(IMAGES), "--batch-size",
                                     str(BATCH), "--epochs", str(args.epochs), "--mc-samples", "1", "--device", "cpu",
                                     "--out", str(root / "uninterrupted")), check=True, capture_output=True)
        run_seconds = time.monotonic() - started
        print(f"an uninterrupted run takes {run_seconds:.1f} s ({args.epochs} epochs)")
        passed = 0
        for number in range(1, args.trials + 1):
            kind = KINDS[(number - 1) % len(KINDS)]
            ok, what = trial(number, kind, root, design_file, args.epochs, rng, run_seconds)
            passed += ok
            print(f"{number:2d} {'ok  ' if ok else 'FAIL'} {what}", flush=True)
    print(f"{passed} of {args.trials} kills resumed to a complete, parseable run")
    return 0 if passed == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())
