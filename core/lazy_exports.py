"""Package attributes imported on first use (PEP 562), so importing a package stays cheap.

``core.data`` and ``core.export`` name their public functions at the package
level, but most of them need torch; reading a design or its training settings
must not load it (``convstudio check``, the app's first window).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, homes: Mapping[str, str],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` whose public names live in the submodules ``homes`` names.

    ``homes`` maps each public name to the submodule defining it. No submodule may
    share a public name: importing it would set the package attribute to the module.
    """

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{homes[name]}"), name)
        namespace[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *homes})

    return __getattr__, __dir__
