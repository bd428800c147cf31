"""The ``convstudio`` command, also run as ``python -m convstudio``.

Headless subcommands go straight to :mod:`convstudio.core.cli` without loading
Qt, so ``convstudio check`` works on a server with no display; only opening the
app imports the GUI.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def _open_app(design_path: str | None) -> int:
    from convstudio.gui.shell.app import run_app

    return run_app(design_path)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convstudio`` command."""
    from convstudio.core.cli import main as cli_main

    return cli_main(sys.argv[1:] if argv is None else argv, open_app=_open_app)


if __name__ == "__main__":
    sys.exit(main())
