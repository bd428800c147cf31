"""The wheel installs one import package, ``convstudio``, with the presets and without the README's assets.

The repository keeps its top-level folders (core/, gui/, presets/, ...);
``pyproject.toml`` maps them under ``convstudio``. This builds a real wheel from
a copy of the working tree and checks it as an installer would see it.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_FOLDERS = ("core", "gui", "presets")


def _working_tree_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    return [name for name in listed.stdout.splitlines() if (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """A wheel built offline, without build isolation, from a copy of the working tree."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    for name in _working_tree_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = tmp / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=150,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (path,) = out.glob("convstudio-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_the_only_top_level_package_is_convstudio(wheel):
    tops = {name.split("/")[0] for name in wheel.namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"convstudio"}
    assert "convstudio/__init__.py" in wheel.namelist()
    assert "convstudio/__main__.py" in wheel.namelist()


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_every_package_folder_is_shipped_and_nothing_else(wheel):
    names = set(wheel.namelist())
    expected = {
        "convstudio/" + path.relative_to(ROOT).as_posix()
        for folder in SHIPPED_FOLDERS for path in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert expected - names == set(), "pyproject.toml's package list misses a folder"
    shipped_code = {name for name in names if name.startswith("convstudio/") and name.endswith(".py")}
    assert shipped_code - expected == {"convstudio/__init__.py", "convstudio/__main__.py"}
    assert not [name for name in names if name.endswith(".png") or "/screenshots/" in name]
    assert not [name for name in names if name.split("/")[1] in ("tests", "bench", "tools", "resources")]


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_the_entry_point_is_the_package_main(wheel):
    (entry_points,) = [name for name in wheel.namelist() if name.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(wheel.read(entry_points).decode())
    assert parser["console_scripts"]["convstudio"] == "convstudio.__main__:main"


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_the_unpacked_wheel_finds_its_presets_from_anywhere(wheel, tmp_path: Path):
    site = tmp_path / "site"
    wheel.extractall(site)  # a pure-Python wheel installs by unpacking it
    presets = sorted(path.stem for path in (ROOT / "presets").glob("*.json"))
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import convstudio, convstudio.presets;"
        "from convstudio.core.presets import preset_keys, load_preset;"
        "assert convstudio.__file__.startswith(sys.argv[1]), convstudio.__file__;"
        "[load_preset(k) for k in preset_keys()];"
        "from convstudio.__main__ import main;"
        "print(','.join(preset_keys()))"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run([sys.executable, "-c", probe, str(site)], capture_output=True, text=True,
                         cwd=elsewhere, timeout=60)
    assert run.returncode == 0, run.stderr
    assert sorted(run.stdout.strip().split(",")) == presets
