"""The ``convstudio`` command line: one module per command, and the options they share.

:mod:`~convstudio.core.cli.main` builds the parser and runs ``check``;
:mod:`~convstudio.core.cli.train`, :mod:`~convstudio.core.cli.export`,
:mod:`~convstudio.core.cli.lab` and :mod:`~convstudio.core.cli.launch` add their
commands; :mod:`~convstudio.core.cli.options` declares the training options once,
for ``train``, the lab commands and the app's torchrun line. Heavy modules (torch)
are imported inside the handlers, so ``convstudio check`` answers without them.
"""

from convstudio.core.cli.main import EXIT_BAD_INPUT, EXIT_INVALID_DESIGN, EXIT_OK, build_parser, main

__all__ = ["EXIT_BAD_INPUT", "EXIT_INVALID_DESIGN", "EXIT_OK", "build_parser", "main"]
