"""ConvStudio's core: designs, the shape engine, the model builder and training.

Plain Python and PyTorch only. Nothing in this package imports Qt or ``gui``
(``tests/test_core_is_qt_free.py`` proves it), so every operation the app offers
can also run headless and from the command line.
"""

from convstudio import __version__  # noqa: F401  (one version, the package's)
