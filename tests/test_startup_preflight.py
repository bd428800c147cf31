"""Start-up that explains itself: the Qt platform pre-flight, run before any QApplication exists.

Each branch is simulated: the environment (display variables, QT_QPA_PLATFORM),
the dynamic loader (a library that fails to load), the OS release file (one per
distribution family). The plugin files read are PySide6's real ones.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from convstudio.core.diagnostics.os_release import (apt_package, install_command, parse_os_release,
                                                    read_os_release)
from convstudio.core.diagnostics.qt_platform import (check_window, pyside6_dir, qt_platforms_dir,
                                                     requested_platforms, startup_message)
from convstudio.core.diagnostics.shared_libraries import NotElfError, missing_libraries, read_elf_links

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux's")

OS_RELEASES = {
    "debian": ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n', "apt"),
    "ubuntu": ('NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="Ubuntu 24.04 LTS"\n', "apt"),
    "fedora": ("NAME=\"Fedora Linux\"\nID=fedora\nVERSION_ID=40\n", "dnf"),
    "rocky": ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "dnf"),
    "arch": ("NAME=\"Arch Linux\"\nID=arch\n", "pacman"),
    "manjaro": ("ID=manjaro\nID_LIKE=arch\n", "pacman"),
    "opensuse": ('ID="opensuse-leap"\nID_LIKE="suse opensuse"\n', "zypper"),
    "alpine": ("ID=alpine\n", None),
}
MISSING = ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]
EXPECTED_INSTALL = {
    "apt": "sudo apt install libxcb-cursor0 libxcb-icccm4",
    "dnf": "sudo dnf install 'libxcb-cursor.so.0()(64bit)' 'libxcb-icccm.so.4()(64bit)'",
    "zypper": "sudo zypper install 'libxcb-cursor.so.0()(64bit)' 'libxcb-icccm.so.4()(64bit)'",
    "pacman": "sudo pacman -S xcb-util-cursor xcb-util-wm",
    None: None,
}


def loads_all_but(*missing: str):
    """A stand-in for dlopen: every library loads except ``missing``, which fail as dlopen says."""
    def load(name: str) -> str | None:
        return f"{name}: cannot open shared object file: No such file or directory" if name in missing else None
    return load


@pytest.fixture
def x_server():
    """A TCP listener where an X server would be, and the DISPLAY that names it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        if port <= 6000:
            pytest.skip("no free port above 6000 for a fake X display")
        yield f"127.0.0.1:{port - 6000}"


# -- the OS release file --------------------------------------------------------------------------

@pytest.mark.parametrize("distribution", OS_RELEASES)
def test_each_distribution_family_gets_its_install_line(distribution):
    text, family = OS_RELEASES[distribution]
    release = parse_os_release(text)
    assert release.family == family
    assert install_command(MISSING, release.family) == EXPECTED_INSTALL[family]


def test_os_release_is_read_from_the_first_file_there(tmp_path):
    (tmp_path / "os-release").write_text(OS_RELEASES["fedora"][0])
    assert read_os_release((tmp_path / "absent", tmp_path / "os-release")).pretty_name == "Fedora Linux"
    assert read_os_release((tmp_path / "absent",)) is None


@pytest.mark.parametrize("soname, package", [
    ("libxcb-icccm.so.4", "libxcb-icccm4"), ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libGL.so.1", "libgl1"), ("libX11-xcb.so.1", "libx11-xcb1"), ("libglib-2.0.so.0", "libglib2.0-0"),
    ("libdbus-1.so.3", "libdbus-1-3"),
])
def test_debian_package_names_follow_the_library_naming_rule(soname, package):
    assert apt_package(soname) == package


def test_pacman_leaves_an_unknown_library_to_pacman_f():
    line = install_command(["libxcb-icccm.so.4", "libunheard-of.so.3"], "pacman")
    assert line.startswith("sudo pacman -S xcb-util-wm") and "pacman -F libunheard-of.so.3" in line


# -- the platform Qt would pick ---------------------------------------------------------------------

def test_requested_platforms_follow_qt_qpa_platform_then_the_session():
    assert requested_platforms({"QT_QPA_PLATFORM": "wayland;xcb"}, "linux") == (("wayland", "xcb"),
                                                                                 "QT_QPA_PLATFORM")
    assert requested_platforms({"QT_QPA_PLATFORM": "offscreen:fontengine=freetype"}, "linux")[0] == ("offscreen",)
    assert requested_platforms({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, "linux") == (
        ("wayland", "xcb"), "XDG_SESSION_TYPE")
    assert requested_platforms({}, "linux") == (("xcb",), "default")
    assert requested_platforms({}, "darwin") == (("cocoa",), "default")
    assert requested_platforms({}, "win32") == (("windows",), "default")


def test_macos_and_windows_need_no_display():
    for system, platform in (("darwin", "cocoa"), ("win32", "windows")):
        check = check_window({}, system=system, load=loads_all_but("libxcb-icccm.so.4"))
        assert check.can_open and check.on_screen and check.platform == platform


def test_without_pyside6_the_message_says_what_to_install():
    check = check_window({"DISPLAY": ":0"}, system="linux", pyside=None)
    assert not check.can_open
    assert "PySide6 is not installed" in startup_message(check)


# -- the ELF reader and the loader ------------------------------------------------------------------

@linux_only
def test_the_xcb_plugin_needs_xcb_and_finds_qts_own_libraries_beside_it():
    plugin = qt_platforms_dir(pyside6_dir(), {}) / "libqxcb.so"
    links = read_elf_links(plugin)
    assert "libxcb.so.1" in links.needed and "libQt6XcbQpa.so.6" in links.needed
    assert any((folder / "libQt6XcbQpa.so.6").is_file() for folder in links.search_dirs)


def test_a_file_that_is_not_elf_is_refused(tmp_path):
    (tmp_path / "libfake.so").write_text("not a library")
    with pytest.raises(NotElfError):
        read_elf_links(tmp_path / "libfake.so")


@linux_only
def test_missing_libraries_loads_system_libraries_and_follows_shipped_ones():
    plugin = qt_platforms_dir(pyside6_dir(), {}) / "libqxcb.so"
    asked: list[str] = []

    def load(name):
        asked.append(name)
        # libGL loads only when its own dependency does: dlopen names the one that is missing.
        return "libGLdispatch.so.0: cannot open shared object file: No such file" if name == "libGL.so.1" else None

    missing = missing_libraries(plugin, load)
    assert [library.name for library in missing] == ["libGLdispatch.so.0"]
    assert not any(name.startswith("libQt6") for name in asked)  # PySide6's own: found beside the plugin
    assert "libxcb-cursor.so.0" in asked  # needed by the plugin or by Qt's xcb library it ships


# -- the verdicts ----------------------------------------------------------------------------------

@linux_only
def test_no_display_variables_says_so_and_names_what_still_works():
    check = check_window({}, system="linux", load=loads_all_but(), os_release=parse_os_release("ID=debian"))
    assert not check.can_open and check.no_display and check.missing == ()
    message = startup_message(check)
    assert "no display: DISPLAY is not set (nor WAYLAND_DISPLAY)" in message
    assert "`convstudio check`, `train`, `export` and the lab commands still work" in message
    assert "Install" not in message


@linux_only
def test_a_display_nobody_answers_on_is_named():
    check = check_window({"DISPLAY": ":4093"}, system="linux", load=loads_all_but())
    assert not check.can_open
    assert "DISPLAY=:4093 is set but no X server answers at /tmp/.X11-unix/X4093" in startup_message(check)


@linux_only
@pytest.mark.parametrize("distribution", ["debian", "fedora", "arch", "opensuse", "alpine"])
def test_a_failing_library_load_gives_the_missing_libraries_and_the_install_line(x_server, distribution):
    text, family = OS_RELEASES[distribution]
    check = check_window({"DISPLAY": x_server}, system="linux", load=loads_all_but(*MISSING),
                         os_release=parse_os_release(text))
    assert not check.can_open and not check.no_display
    assert [library.name for library in check.missing] == MISSING
    message = startup_message(check)
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4" in message
    if family is None:
        assert "with your system's package manager" in message
    else:
        assert f"Install them with:\n    {EXPECTED_INSTALL[family]}" in message


@linux_only
def test_with_a_display_and_every_library_the_window_opens(x_server):
    check = check_window({"DISPLAY": x_server}, system="linux", load=loads_all_but())
    assert check.can_open and check.on_screen and check.platform == "xcb" and check.problems == ()


@linux_only
def test_offscreen_needs_no_display_but_reports_what_an_x11_window_would_lack():
    check = check_window({"QT_QPA_PLATFORM": "offscreen"}, system="linux", load=loads_all_but(*MISSING),
                         os_release=parse_os_release("ID=debian"))
    assert check.can_open and not check.on_screen and check.platform == "offscreen"
    assert [library.name for library in check.xcb_missing] == MISSING
    assert check.install == EXPECTED_INSTALL["apt"]


@linux_only
def test_qt_falls_back_along_the_requested_list(x_server, tmp_path):
    environ = {"QT_QPA_PLATFORM": "wayland;xcb", "WAYLAND_DISPLAY": "wayland-9", "XDG_RUNTIME_DIR": str(tmp_path),
               "DISPLAY": x_server}
    check = check_window(environ, system="linux", load=loads_all_but())
    assert check.can_open and check.platform == "xcb"


# -- the command itself ----------------------------------------------------------------------------

def _run(*code_or_args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *code_or_args], capture_output=True, text=True, timeout=120, env=env)


def _no_display_env(tmp_path) -> dict:
    env = {key: value for key, value in os.environ.items()
           if key not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "XDG_SESSION_TYPE")}
    return {**env, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"), "CONVSTUDIO_RUNS": str(tmp_path / "runs")}


@linux_only
def test_convstudio_without_a_display_exits_2_with_one_short_message(tmp_path):
    env = _no_display_env(tmp_path)
    for command in (["-m", "convstudio"], ["-m", "convstudio", "gui"],
                    ["-c", "import sys; from convstudio.gui.shell.app import run_app; sys.exit(run_app())"]):
        result = _run(*command, env=env)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("convstudio: the window cannot open:"), result.stderr
        assert "no display" in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.splitlines()) <= 8


@linux_only
def test_headless_commands_work_without_a_display(tmp_path):
    preset = os.path.join(os.path.dirname(os.path.dirname(__file__)), "presets", "shapes_small.json")
    result = _run("-m", "convstudio", "check", preset, env=_no_display_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


@linux_only
def test_an_unknown_platform_name_is_refused_as_qt_would():
    check = check_window({"QT_QPA_PLATFORM": "nosuch"}, system="linux", load=loads_all_but())
    assert not check.can_open and "Qt has no 'nosuch' platform plugin" in check.problems[0]


def test_where_qts_plugins_are_unknown_only_the_display_is_checked(tmp_path, x_server):
    # A distribution's own PySide6 keeps Qt's plugins elsewhere: its libraries are then Qt's business.
    (tmp_path / "PySide6").mkdir()
    check = check_window({"DISPLAY": x_server}, system="linux", load=loads_all_but(*MISSING),
                         pyside=tmp_path / "PySide6")
    assert check.can_open and check.missing == ()
    assert not check_window({}, system="linux", load=loads_all_but(), pyside=tmp_path / "PySide6").can_open


def test_the_check_can_be_skipped():
    from convstudio.core.diagnostics.qt_platform import SKIP_CHECK_ENV, startup_problem

    assert startup_problem({SKIP_CHECK_ENV: "1"}) is None
    if sys.platform.startswith("linux"):
        assert startup_problem({SKIP_CHECK_ENV: "0"}).startswith("convstudio: the window cannot open")
