"""The README's Development section draws the repository's layout, and it matches the tree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _layout_block() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Development"):]
    block = section[section.index("```text") + len("```text"):]
    return block[: block.index("```")].strip("\n").splitlines()


def _named_paths() -> set[str]:
    """Every path the drawing names: top-level entries, and entries indented under a folder."""
    paths, parent = set(), ""
    for line in _layout_block():
        if not line.strip() or line.startswith(" " * 10):  # a continued description
            continue
        indent = len(line) - len(line.lstrip())
        names = line.strip().split("   ")[0].strip()
        for name in (piece.strip() for piece in names.split(",")):
            if not re.fullmatch(r"[\w./]+", name):
                continue
            if indent == 0:
                paths.add(name)
                if name.endswith("/"):
                    parent = name
            else:
                paths.add(parent + name)
    return paths


def test_every_path_the_readme_draws_exists():
    named = _named_paths()
    assert "gui/designer/" in named and "core/cli/" in named
    missing = sorted(path for path in named if not (ROOT / path.rstrip("/")).exists())
    assert missing == []


def test_every_package_folder_of_core_and_gui_is_drawn():
    named = _named_paths()
    folders = {f"{top}/{path.name}/" for top in ("core", "gui")
               for path in (ROOT / top).iterdir() if (path / "__init__.py").is_file()}
    assert folders - named == set()
    for top in ("core/", "gui/", "presets/", "tests/", "bench/", "tools/"):
        assert top in named
