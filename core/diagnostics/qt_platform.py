"""Can the app open a window here? The Qt platform it would use, and what that platform is missing.

Checked before a QApplication exists and without importing Qt (PySide6 is only
located on disk), so ``convstudio`` can print one short message and exit with
status 2 instead of Qt's abort. On Linux, Qt picks its platform plugin from
``QT_QPA_PLATFORM`` (a ``;``-separated list tried in order), else from the
session (Wayland, then X11); the xcb and wayland plugins need a display and a
set of system libraries. We look for the libraries the way Qt does, by loading
them (:mod:`.shared_libraries`), so the list of what is missing never goes
stale. macOS and Windows plugins need neither.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from convstudio.core.diagnostics.displays import wayland_display_problem, x_display_problem
from convstudio.core.diagnostics.os_release import OsRelease, install_command, read_os_release
from convstudio.core.diagnostics.shared_libraries import Loader, MissingLibrary, dlopen_error, missing_libraries

# Platforms that draw without a display (offscreen and minimal draw nowhere; the others to a framebuffer or VNC).
NO_DISPLAY_PLATFORMS = ("offscreen", "minimal", "minimalegl", "vnc", "linuxfb", "eglfs", "vkkhrdisplay")
OFF_SCREEN_PLATFORMS = ("offscreen", "minimal")
SKIP_CHECK_ENV = "CONVSTUDIO_SKIP_WINDOW_CHECK"
HEADLESS_COMMANDS = "Without a window, `convstudio check`, `train`, `export` and the lab commands still work"


@dataclass(frozen=True)
class WindowCheck:
    """What Qt would do here: the platform, whether a window can open, and if not why and the fix."""

    platform: str | None  # the plugin Qt would load ("xcb", "wayland", "cocoa", "windows", "offscreen", ...)
    requested: tuple[str, ...]  # the platforms tried in order
    source: str  # where the request came from: "QT_QPA_PLATFORM", "XDG_SESSION_TYPE" or "default"
    can_open: bool  # a QApplication can start (on screen or, for offscreen, off it)
    on_screen: bool  # windows appear on a screen (False for offscreen and minimal)
    display: str | None  # DISPLAY or WAYLAND_DISPLAY in use
    problems: tuple[str, ...] = ()  # why the platforms tried cannot start, one sentence each
    missing: tuple[MissingLibrary, ...] = ()  # system libraries that fail to load
    install: str | None = None  # the line that installs them on this distribution
    no_display: bool = False  # the reason is only that there is no display (not a broken installation)
    plugin_dir: str | None = None
    xcb_missing: tuple[MissingLibrary, ...] = field(default=())  # for a later X11 window, when xcb is not in use


def pyside6_dir() -> Path | None:
    """PySide6's package folder, found without importing it; None when PySide6 is not installed."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def qt_platforms_dir(pyside: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The folder of Qt's platform plugins: ``QT_QPA_PLATFORM_PLUGIN_PATH``, else PySide6's own."""
    if environ.get("QT_QPA_PLATFORM_PLUGIN_PATH"):
        return Path(environ["QT_QPA_PLATFORM_PLUGIN_PATH"])
    if pyside is None:
        return None
    for candidate in (pyside / "Qt" / "plugins" / "platforms", pyside / "plugins" / "platforms"):
        if candidate.is_dir():
            return candidate
    return None


def requested_platforms(environ: Mapping[str, str], system: str = sys.platform) -> tuple[tuple[str, ...], str]:
    """The platforms Qt tries, in order, and where that choice came from.

    ``QT_QPA_PLATFORM=wayland;xcb`` -> (("wayland", "xcb"), "QT_QPA_PLATFORM");
    a plugin's options (``offscreen:fontengine=freetype``) are dropped.
    """
    explicit = environ.get("QT_QPA_PLATFORM", "").strip()
    names = tuple(part.split(":")[0].strip().lower() for part in explicit.split(";") if part.split(":")[0].strip())
    if names:
        return names, "QT_QPA_PLATFORM"
    if system == "darwin":
        return ("cocoa",), "default"
    if system.startswith("win"):
        return ("windows",), "default"
    if environ.get("XDG_SESSION_TYPE", "").lower() == "wayland" and environ.get("WAYLAND_DISPLAY"):
        return ("wayland", "xcb"), "XDG_SESSION_TYPE"
    return ("xcb",), "default"


def _plugin_file(platforms: Path | None, name: str) -> Path | None:
    if platforms is None:
        return None
    stems = ("libqwayland", "libqwayland-generic") if name == "wayland" else (f"libq{name}",)
    return next((platforms / f"{stem}.so" for stem in stems if (platforms / f"{stem}.so").is_file()), None)


def _qt_module_file(pyside: Path | None) -> Path | None:
    if pyside is None:
        return None
    return next(iter(sorted(pyside.glob("QtWidgets*.so"))), None)


def _display_problem(platform: str, environ: Mapping[str, str]) -> str | None:
    """Why the display of ``platform`` ("xcb" or "wayland") is not there; None when it answers."""
    if platform == "wayland":
        return wayland_display_problem(environ)
    if not environ.get("DISPLAY"):
        return "no display: DISPLAY is not set" + ("" if environ.get("WAYLAND_DISPLAY") else " (nor WAYLAND_DISPLAY)")
    return x_display_problem(environ["DISPLAY"])


def check_window(environ: Mapping[str, str] | None = None, system: str = sys.platform,
                 load: Loader = dlopen_error, os_release: OsRelease | None = None,
                 pyside: Path | None | bool = True) -> WindowCheck:
    """Whether a window can open here, checked as Qt would start, without Qt.

    The arguments stand in for the machine in tests: ``environ`` (os.environ),
    ``system`` (sys.platform), ``load`` (dlopen), ``os_release`` (read from
    /etc/os-release when None), ``pyside`` (PySide6's folder; True: find it).
    """
    environ = os.environ if environ is None else environ
    pyside_path = pyside6_dir() if pyside is True else (pyside or None)
    requested, source = requested_platforms(environ, system)
    if pyside_path is None:
        return WindowCheck(None, requested, source, False, False, None,
                           ("PySide6 is not installed: python -m pip install 'PySide6>=6.8,<6.12'",))
    is_linux_like = not (system == "darwin" or system.startswith("win"))
    if not is_linux_like:
        platform = requested[0]
        return WindowCheck(platform, requested, source, True, platform not in OFF_SCREEN_PLATFORMS, None,
                           plugin_dir=str(qt_platforms_dir(pyside_path, environ) or ""))
    platforms = qt_platforms_dir(pyside_path, environ)
    module = _qt_module_file(pyside_path)
    # QtGui's own libraries (EGL, fontconfig, xkbcommon) are needed by every platform, even offscreen.
    base_missing = tuple(missing_libraries(module, load)) if module else ()
    problems: list[str] = []
    missing: list[MissingLibrary] = list(base_missing)
    only_display = True
    chosen = None
    display = None
    for name in requested:
        plugin = _plugin_file(platforms, name)
        if plugin is None and platforms is not None:
            problems.append(f"Qt has no {name!r} platform plugin in {platforms}")
            only_display = False
            continue
        # plugin None from here: Qt's plugins are not where PySide6's wheels keep them (a distribution's
        # own PySide6); their libraries cannot be checked, so only the display is.
        if name in NO_DISPLAY_PLATFORMS:
            if not base_missing:
                chosen = name
                break
            continue
        variable = "WAYLAND_DISPLAY" if name == "wayland" else "DISPLAY"
        display = environ.get(variable) or None
        plugin_missing = [library for library in (missing_libraries(plugin, load) if plugin else ())
                          if library.name not in {known.name for known in missing}]
        missing += plugin_missing
        reason = _display_problem(name, environ)
        if plugin_missing or base_missing:
            only_display = False
        if reason:
            problems.append(reason)
        if not (reason or plugin_missing or base_missing):
            chosen = name
            break
    if missing:
        names = ", ".join(library.name for library in missing)
        problems.append(f"Qt's {'/'.join(n for n in requested if n not in NO_DISPLAY_PLATFORMS) or requested[0]} "
                        f"platform needs system libraries that fail to load: {names}")
    release = read_os_release() if os_release is None else os_release
    install = install_command([library.name for library in missing], release.family if release else None)
    xcb_missing: tuple[MissingLibrary, ...] = ()
    if chosen is not None and chosen != "xcb":
        xcb_plugin = _plugin_file(platforms, "xcb")
        xcb_missing = tuple(missing_libraries(xcb_plugin, load)) if xcb_plugin else ()
        if xcb_missing and install is None:
            install = install_command([library.name for library in xcb_missing], release.family if release else None)
    return WindowCheck(
        platform=chosen or (requested[0] if requested else None), requested=requested, source=source,
        can_open=chosen is not None, on_screen=chosen is not None and chosen not in OFF_SCREEN_PLATFORMS,
        display=display, problems=tuple(problems) if chosen is None else (), missing=tuple(missing),
        install=install, no_display=chosen is None and only_display and bool(problems),
        plugin_dir=str(platforms) if platforms else None, xcb_missing=xcb_missing,
    )


def running_window(platform: str, environ: Mapping[str, str] | None = None) -> WindowCheck:
    """The check for an app that is already running on ``platform`` (QGuiApplication.platformName()).

    Its window opened, so nothing needs loading: this only records the platform and display.
    """
    environ = os.environ if environ is None else environ
    display = environ.get("WAYLAND_DISPLAY" if platform == "wayland" else "DISPLAY") or None
    return WindowCheck(platform, (platform,), "the running app", True, platform not in OFF_SCREEN_PLATFORMS,
                       display, plugin_dir=str(qt_platforms_dir(pyside6_dir(), environ) or "") or None)


def startup_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """The message to print instead of opening the app, or None when a window can open.

    ``CONVSTUDIO_SKIP_WINDOW_CHECK=1`` skips the check (should it ever be wrong
    about a machine, Qt then decides for itself).
    """
    environ = os.environ if environ is None else environ
    if environ.get(SKIP_CHECK_ENV, "") not in ("", "0"):
        return None
    check = check_window(environ)
    return None if check.can_open else startup_message(check)


def startup_message(check: WindowCheck) -> str:
    """The few lines ``convstudio`` prints when the window cannot open: what is missing, the fix, what still works."""
    lines = ["convstudio: the window cannot open:"]
    lines += [f"  - {problem}" for problem in check.problems]
    if check.missing:
        lines.append(f"Install them with:\n    {check.install}" if check.install else
                     "Install the packages that provide them with your system's package manager.")
    if any(problem.startswith("no display") for problem in check.problems):
        lines.append("Start it in a desktop session, or over SSH with X forwarding (ssh -X).")
    lines.append(f"{HEADLESS_COMMANDS}; `convstudio doctor` reports what this machine has.")
    return "\n".join(lines)
