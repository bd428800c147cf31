"""Regenerate every screenshot in the README: ``python tools/screenshots.py [OUT_DIR] [--only NAME...]``.

Runs the designer, training and lab screenshot scripts beside this file, each in a
fresh interpreter (one QApplication each, offscreen), into ``resources/screenshots``
by default. The training and lab scripts train real runs on the built-in dataset:
the whole set takes several minutes on a laptop CPU. ``--only designer training``
runs just those scripts.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = {
    "designer": HERE / "designer_screenshots.py",
    "training": HERE / "training_screenshots.py",
    "lab": HERE / "lab_screenshots.py",
    "experiments": HERE / "experiments_screenshots.py",
    "inspect": HERE / "inspect_screenshots.py",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(HERE.parent / "resources" / "screenshots"))
    parser.add_argument("--only", nargs="+", choices=sorted(SCRIPTS), default=list(SCRIPTS))
    args = parser.parse_args(argv)
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    failed = []
    for name in args.only:
        started = time.monotonic()
        print(f"== {name} screenshots", flush=True)
        result = subprocess.run([sys.executable, str(SCRIPTS[name]), args.out], env=env)
        print(f"== {name}: {'done' if result.returncode == 0 else 'FAILED'} in {time.monotonic() - started:.0f} s",
              flush=True)
        if result.returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
