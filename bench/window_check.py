"""What the start-up window check adds to ``convstudio``'s start, against the bare interpreter.

    python bench/window_check.py [--repeats 9]

``convstudio`` checks that Qt can open a window (display variables, the
platform plugin's system libraries, loaded as Qt would) before it creates the
QApplication (core/diagnostics/qt_platform.py). Each measurement starts a fresh
interpreter: the bare one (``python -c pass``), one that imports the check, and
one that runs it. Prints a Markdown table: median and best wall time of the
repeats, and each as a ratio to the bare interpreter's median.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "bare interpreter (python -c pass)": "pass",
    "import the check": "import convstudio.core.diagnostics.qt_platform",
    "run the check (check_window)": "from convstudio.core.diagnostics.qt_platform import check_window; check_window()",
}


def _time(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    for code in COMMANDS.values():  # warm the file cache once
        _time(code)
    times = {label: [_time(code) for _ in range(args.repeats)] for label, code in COMMANDS.items()}
    bare = statistics.median(times["bare interpreter (python -c pass)"])
    print(f"| what ({args.repeats} runs) | median ms | best ms | median / bare interpreter |")
    print("| --- | ---: | ---: | ---: |")
    for label, samples in times.items():
        median = statistics.median(samples)
        print(f"| {label} | {median * 1000:.0f} | {min(samples) * 1000:.0f} | {median / bare:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
