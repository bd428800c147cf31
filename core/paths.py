"""Where ConvStudio keeps its files for a user: datasets and training runs.

One place for the per-user folders, so the command line and the app read and
write the same ones (a run trained in a terminal shows in the app's Runs tab).
Plain Python: no torch, no Qt.

- :func:`user_data_home`: the platform's per-user data folder, without our name
  (``$XDG_DATA_HOME`` or ``~/.local/share`` on Linux, ``~/Library/Application Support``
  on macOS, ``%LOCALAPPDATA%`` on Windows).
- :func:`default_data_dir`: datasets (``$CONVSTUDIO_DATA`` overrides it, and a
  command's ``--data-dir`` overrides both through :func:`data_dir_override`).
- :func:`app_data_dir`: the app's own folder, the one Qt's ``AppDataLocation``
  names for organisation and application "ConvStudio" (the app sets both).
- :func:`default_runs_root`: runs (``$CONVSTUDIO_RUNS`` overrides it; the app also
  remembers a folder the user chose and passes it in).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DATA_ENV = "CONVSTUDIO_DATA"
RUNS_ENV = "CONVSTUDIO_RUNS"
# The app's QCoreApplication organisation and application names, which Qt puts in its folder names.
ORGANISATION = APPLICATION = "ConvStudio"


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None


def _is_windows() -> bool:
    return sys.platform.startswith("win")


def user_data_home() -> Path:
    """The platform's per-user data folder, the parent of every application's own.

    Linux and other Unix systems: ``$XDG_DATA_HOME`` (when absolute, as the XDG
    specification asks), else ``~/.local/share``; macOS: ``~/Library/Application
    Support``; Windows: ``%LOCALAPPDATA%`` (``~/AppData/Local`` when unset).
    """
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support"
    if _is_windows():
        local = os.environ.get("LOCALAPPDATA")
        return Path(local) if local else Path.home() / "AppData" / "Local"
    xdg = os.environ.get("XDG_DATA_HOME")
    return Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"


def default_data_dir() -> Path:
    """The per-user folder where datasets are looked for and downloaded to.

    ``CONVSTUDIO_DATA`` overrides it. Otherwise, under :func:`user_data_home`:
    ``convstudio/data`` on Linux and other Unix systems (``~/.local/share/convstudio/data``),
    ``ConvStudio/data`` on macOS and Windows.
    """
    override = _env_path(DATA_ENV)
    if override is not None:
        return override
    own = "ConvStudio" if sys.platform == "darwin" or _is_windows() else "convstudio"
    return user_data_home() / own / "data"


def data_dir_source(option: str | Path | None = None) -> tuple[Path, str]:
    """The data folder and what chose it, in order of precedence: ``--data-dir``, ``$CONVSTUDIO_DATA``, the default.

    ``option`` is a command's ``--data-dir`` (None when not given); the second
    value is "--data-dir", "$CONVSTUDIO_DATA" or "default".
    """
    if option:
        return Path(option).expanduser(), "--data-dir"
    if _env_path(DATA_ENV) is not None:
        return default_data_dir(), f"${DATA_ENV}"
    return default_data_dir(), "default"


@contextmanager
def data_dir_override(folder: str | Path | None) -> Iterator[Path]:
    """Make ``folder`` the data folder while the block runs (nothing changes when it is None).

    It is set as ``$CONVSTUDIO_DATA``, so every lookup of :func:`default_data_dir`
    sees it, and so do the processes started meanwhile (torchrun workers, the lab's
    worker processes); the previous value comes back afterwards.
    """
    if not folder:
        yield default_data_dir()
        return
    chosen = Path(folder).expanduser().absolute()
    previous = os.environ.get(DATA_ENV)
    os.environ[DATA_ENV] = str(chosen)
    try:
        yield chosen
    finally:
        if previous is None:
            os.environ.pop(DATA_ENV, None)
        else:
            os.environ[DATA_ENV] = previous


def app_data_dir() -> Path:
    """The app's per-user folder, as Qt's ``QStandardPaths.AppDataLocation`` names it.

    Linux: ``~/.local/share/ConvStudio/ConvStudio``; macOS: ``~/Library/Application
    Support/ConvStudio/ConvStudio``; Windows: ``%APPDATA%\\ConvStudio\\ConvStudio``
    (Qt takes the roaming folder there). The app kept its runs here before the
    command line could, so this is where existing runs are.
    """
    if _is_windows():
        roaming = os.environ.get("APPDATA")
        base = Path(roaming) if roaming else Path.home() / "AppData" / "Roaming"
    else:
        base = user_data_home()
    return base / ORGANISATION / APPLICATION


def default_runs_root(chosen: str | Path | None = None) -> Path:
    """Where training runs are kept, one folder per design (see :mod:`core.training.run_index`).

    ``$CONVSTUDIO_RUNS`` when set; else ``chosen`` (the folder picked in the
    app's *Runs folder...*, which the app remembers); else ``runs`` in
    :func:`app_data_dir`. ``convstudio train`` without ``--out`` writes here.
    """
    override = _env_path(RUNS_ENV)
    if override is not None:
        return override
    if chosen:
        return Path(chosen).expanduser()
    return app_data_dir() / "runs"
