"""Start-up times: ``convstudio check`` and the app's window, against the bare interpreter.

    python bench/startup.py [--repeats 7]

Each measurement starts a fresh interpreter (as a user's command does) and takes
the wall time from launch until the command has printed its report (``check``) or
the main window is shown with the event loop running (the app, offscreen). The
bare interpreter (``python -c pass``) is measured in the same run, so the table
also gives each command's cost beyond Python's own start-up. HOME and the XDG
folders point at a scratch folder: no settings, autosaves or runs of the user's
are read. Prints a Markdown table (median and best of the repeats).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CIFAR10 = ROOT / "presets" / "cifar10.json"

# Starts the app as `convstudio` does, and quits as soon as the event loop runs with the window shown.
_APP = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
def shown():
    windows = [w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow" and w.isVisible()]
    print("shown" if windows else "no window", "torch" in sys.modules, flush=True)
    app.quit()
QTimer.singleShot(0, shown)
from convstudio.gui.shell.app import run_app
sys.exit(run_app())
"""

COMMANDS = {
    "bare interpreter (python -c pass)": [sys.executable, "-c", "pass"],
    "convstudio check presets/cifar10.json": [sys.executable, "-m", "convstudio", "check", str(CIFAR10)],
    "app: window shown (offscreen)": [sys.executable, "-c", _APP],
}


def _time(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{result.stderr[-2000:]}")
    return elapsed, result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "HOME": scratch, "XDG_DATA_HOME": f"{scratch}/data",
               "XDG_CONFIG_HOME": f"{scratch}/config", "XDG_CACHE_HOME": f"{scratch}/cache",
               "QT_QPA_PLATFORM": "offscreen", "CONVSTUDIO_RUNS": f"{scratch}/runs"}
        for command in COMMANDS.values():  # warm the file cache once
            _time(command, env)
        times: dict[str, list[float]] = {name: [] for name in COMMANDS}
        notes: dict[str, str] = {}
        for _ in range(args.repeats):  # interleaved, so load from other processes hits all alike
            for name, command in COMMANDS.items():
                elapsed, last_line = _time(command, env)
                times[name].append(elapsed)
                notes[name] = last_line
    bare = statistics.median(times["bare interpreter (python -c pass)"])
    print(f"Start-up, {args.repeats} repeats, {sys.executable} ({sys.version.split()[0]}), "
          f"{os.cpu_count()} CPUs\n")
    print("| command | median s | best s | median beyond bare start-up s |")
    print("|---|---:|---:|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} | {min(values):.3f} | {median - bare:.3f} |")
    app_note = notes["app: window shown (offscreen)"].split()
    print(f"\nApp: {app_note[0] if app_note else '?'}; torch loaded when the window showed: "
          f"{app_note[1] if len(app_note) > 1 else '?'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
