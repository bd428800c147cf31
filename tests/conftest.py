"""Shared test setup.

Qt runs offscreen in tests (no display needed); set before any test imports Qt.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes several seconds (builds a wheel, starts processes)")


@pytest.fixture(autouse=True, scope="session")
def image_cache_outside_home(tmp_path_factory):
    """Decoded image folders go to a temporary folder, not the user's data folder (child processes inherit it)."""
    os.environ["CONVSTUDIO_IMAGE_CACHE"] = str(tmp_path_factory.mktemp("image-cache"))


@pytest.fixture
def one_torch_thread():
    """Run torch on one thread: on a busy two-core machine, two threads can be ten times slower.

    Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    torch is imported here, not at the top: the GUI tests must not load it before they need it.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def isolated_runs_root(tmp_path, monkeypatch):
    """A runs root of the test's own for every command it runs (children inherit it): never the user's.

    Modules whose commands all need it opt in with
    ``pytestmark = pytest.mark.usefixtures("isolated_runs_root")``.
    """
    root = tmp_path / "runs-root"
    monkeypatch.setenv("CONVSTUDIO_RUNS", str(root))
    return root


@pytest.fixture
def tiny_design_file(tmp_path):
    """The design file of ``design_helpers.tiny_design()`` (trains an epoch of a few hundred images in seconds)."""
    from convstudio.core.design import save_design
    from design_helpers import tiny_design

    path = tmp_path / "tiny.json"
    save_design(tiny_design(), path)
    return path
