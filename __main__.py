"""The ``convstudio`` command, also run as ``python -m convstudio``.

Headless subcommands go straight to :mod:`convstudio.core.cli` without loading
Qt, so ``convstudio check`` works on a server with no display; only opening the
app imports the GUI, after checking that a window can open
(:mod:`convstudio.core.diagnostics.qt_platform`): when it cannot, one short
message says what is missing and how to install it, and the exit status is 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


EXIT_NO_WINDOW = 2


def _open_app(design_path: str | None) -> int:
    # Before Qt loads: a missing display or system library gets one short message naming
    # the fix, instead of Qt's abort (which would also kill this process).
    from convstudio.core.diagnostics.qt_platform import startup_problem

    problem = startup_problem()
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_NO_WINDOW
    try:
        from convstudio.gui.shell.app import run_app
    except ImportError as error:  # a Qt module whose libraries the check did not cover
        print(f"convstudio: the app cannot start: {error}\n`convstudio doctor` reports what this machine has.",
              file=sys.stderr)
        return EXIT_NO_WINDOW
    return run_app(design_path, check_platform=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convstudio`` command."""
    from convstudio.core.cli import main as cli_main

    try:
        return cli_main(sys.argv[1:] if argv is None else argv, open_app=_open_app)
    except BrokenPipeError:
        # The reader went away (``convstudio check ... | head -1``): nothing is wrong with the
        # command, so no traceback. Python's documented recipe: point stdout at devnull so the
        # interpreter's final flush does not fail again, and exit 1.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
