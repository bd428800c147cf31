"""ConvStudio: design, check and train convolutional neural networks.

The repository's top-level folders install as one package (``pyproject.toml``
maps them): ``convstudio.core`` (plain Python and PyTorch, no Qt),
``convstudio.gui`` (the PySide6 app) and ``convstudio.presets`` (design files).
"""

__version__ = "0.1.0"
