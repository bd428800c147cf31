"""``core/`` (``convstudio.core``) never imports Qt, pyqtgraph or the ``gui`` package.

Two views of the same rule: importing every module under ``core`` in a fresh
interpreter loads none of them, and no source file under ``core/`` names them
in an import statement (which also catches imports hidden inside functions).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"
FORBIDDEN = ("PySide6", "shiboken6", "pyqtgraph", "convstudio.gui", "PyQt5", "PyQt6", "PySide2", "qtpy", "superqt")

_IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys
import convstudio.core as core
forbidden = set(sys.argv[1].split(","))
imported, failed = [], {}
def broken_package(name):
    failed[name] = f"{type(sys.exc_info()[1]).__name__}: {sys.exc_info()[1]}"
for info in pkgutil.walk_packages(core.__path__, "convstudio.core.", onerror=broken_package):
    try:
        importlib.import_module(info.name)
        imported.append(info.name)
    except Exception as error:
        failed[info.name] = f"{type(error).__name__}: {error}"
loaded = sorted(name for name in sys.modules
                if name.split(".")[0] in forbidden or ".".join(name.split(".")[:2]) in forbidden)
print(json.dumps({"imported": imported, "failed": failed, "loaded": loaded, "core": core.__file__}))
"""


@pytest.fixture(scope="module")
def imported_everything() -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERYTHING, ",".join(FORBIDDEN)],
        capture_output=True, text=True, cwd=ROOT, timeout=240,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def core_sources() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_the_walk_sees_the_whole_package(imported_everything):
    assert Path(imported_everything["core"]).resolve().parent == CORE
    names = set(imported_everything["imported"]) | set(imported_everything["failed"])
    expected = {
        "convstudio.core." + ".".join(path.relative_to(CORE).with_suffix("").parts)
        for path in core_sources() if path.name != "__init__.py"
    } | {"convstudio.core." + ".".join(path.parent.relative_to(CORE).parts)
         for path in core_sources() if path.name == "__init__.py" and path.parent != CORE}
    assert expected <= names
    assert {"convstudio.core.shapes", "convstudio.core.design", "convstudio.core.builder", "convstudio.core.cli"} <= names


def test_importing_every_core_module_loads_no_qt(imported_everything):
    assert imported_everything["loaded"] == []


def test_every_core_module_imports(imported_everything):
    # Otherwise the check above could not have seen what a broken module imports.
    assert imported_everything["failed"] == {}


def _forbidden(module: str) -> bool:
    """A Qt binding, pyqtgraph, or the app's own ``gui`` package (by any of its names)."""
    parts = module.split(".")
    return parts[0] in FORBIDDEN or ".".join(parts[:2]) in FORBIDDEN or parts[0] == "gui"


def _imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Name) and node.func.id == "__import__")
                   or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"))):
            found.append((node.lineno, node.args[0].value))
    return found


def test_no_core_source_imports_qt():
    offenders = []
    sources = core_sources()
    assert CORE / "shapes.py" in sources
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, name in _imported_names(tree):
            if _forbidden(name):
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert offenders == []


def test_the_scanner_finds_each_form_of_import():
    source = (
        "import PySide6.QtCore\n"
        "from pyqtgraph import PlotWidget\n"
        "def later():\n    from convstudio.gui.shell.app import run_app\n"
        "import importlib\nimportlib.import_module('shiboken6')\n"
        "__import__('PyQt6')\n"
        "from . import shapes\nimport guide\n"
    )
    names = [name for _, name in _imported_names(ast.parse(source))]
    assert [name for name in names if _forbidden(name)] == [
        "PySide6.QtCore", "pyqtgraph", "convstudio.gui.shell.app", "shiboken6", "PyQt6"]
