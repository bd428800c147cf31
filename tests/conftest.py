"""Shared test setup.

Qt runs offscreen in tests (no display needed); set before any test imports Qt.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes several seconds (builds a wheel, starts processes)")
