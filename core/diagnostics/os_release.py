"""The Linux distribution family (from the OS release file) and its line for installing system libraries.

``/etc/os-release`` (or ``/usr/lib/os-release``) names the distribution (``ID``)
and those it derives from (``ID_LIKE``); from them we tell the package manager:
apt (Debian, Ubuntu, Mint, ...), dnf (Fedora, RHEL, Rocky, Alma, ...), pacman
(Arch, Manjaro, ...) or zypper (openSUSE, SLES). The install line names the
packages for the missing libraries (sonames such as ``libxcb-icccm.so.4``):

- apt: Debian's naming rule for library packages (``libxcb-icccm.so.4`` is in
  ``libxcb-icccm4``, ``libxkbcommon-x11.so.0`` in ``libxkbcommon-x11-0``), with the
  few exceptions Qt's libraries meet;
- dnf and zypper: the soname itself, which RPM packages provide as a capability
  (``'libxcb-icccm.so.4()(64bit)'``), so the line stays right whatever the package is called;
- pacman: Arch's package for each library Qt's plugins need.
"""

from __future__ import annotations

import platform
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

OS_RELEASE_FILES = (Path("/etc/os-release"), Path("/usr/lib/os-release"))

# family -> (distribution ids that belong to it, the package manager's install command)
FAMILIES: dict[str, tuple[tuple[str, ...], str]] = {
    "apt": (("debian", "ubuntu", "linuxmint", "pop", "raspbian", "elementary", "kali", "zorin", "neon"),
            "sudo apt install"),
    "dnf": (("fedora", "rhel", "centos", "rocky", "almalinux", "ol", "amzn", "nobara"), "sudo dnf install"),
    "pacman": (("arch", "manjaro", "endeavouros", "garuda", "artix"), "sudo pacman -S"),
    "zypper": (("opensuse", "opensuse-leap", "opensuse-tumbleweed", "suse", "sles", "sled"), "sudo zypper install"),
}

# Debian packages whose names do not follow the rule (lib + name + soversion).
_APT_EXCEPTIONS = {
    "libglib-2.0": "libglib2.0-0", "libgthread-2.0": "libglib2.0-0", "libgobject-2.0": "libglib2.0-0",
    "libz": "zlib1g", "libgcc_s": "libgcc-s1",
}
# Arch packages of the libraries Qt's xcb, wayland and EGL plugins and QtGui load.
_PACMAN_PACKAGES = {
    "libxcb-cursor": "xcb-util-cursor", "libxcb-icccm": "xcb-util-wm", "libxcb-ewmh": "xcb-util-wm",
    "libxcb-keysyms": "xcb-util-keysyms", "libxcb-image": "xcb-util-image", "libxcb-util": "xcb-util",
    "libxcb-render-util": "xcb-util-renderutil", "libxkbcommon": "libxkbcommon",
    "libxkbcommon-x11": "libxkbcommon-x11", "libX11-xcb": "libx11", "libX11": "libx11", "libGL": "libglvnd",
    "libEGL": "libglvnd", "libOpenGL": "libglvnd", "libGLX": "libglvnd", "libfontconfig": "fontconfig",
    "libfreetype": "freetype2", "libdbus-1": "dbus", "libwayland-client": "wayland",
    "libwayland-cursor": "wayland", "libwayland-egl": "wayland", "libglib-2.0": "glib2",
    "libgthread-2.0": "glib2", "libSM": "libsm", "libICE": "libice",
}
_SONAME = re.compile(r"^(?P<stem>.+?)\.so(?:\.(?P<version>\d+))?")


@dataclass(frozen=True)
class OsRelease:
    """What the OS release file says: ``ID``, ``ID_LIKE`` and ``PRETTY_NAME``."""

    id: str = ""
    id_like: tuple[str, ...] = ()
    pretty_name: str = ""

    @property
    def family(self) -> str | None:
        """"apt", "dnf", "pacman", "zypper", or None when the distribution is not one we know."""
        for candidate in (self.id, *self.id_like):
            for family, (ids, _) in FAMILIES.items():
                if candidate in ids:
                    return family
        return None


def parse_os_release(text: str) -> OsRelease:
    """Read the ``KEY=value`` lines of an OS release file (values may be quoted)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            words = shlex.split(value)
        except ValueError:
            words = [value.strip("\"'")]
        values[key.strip()] = " ".join(words)
    return OsRelease(values.get("ID", "").lower(), tuple(values.get("ID_LIKE", "").lower().split()),
                     values.get("PRETTY_NAME", values.get("NAME", "")))


def read_os_release(files: tuple[Path, ...] = OS_RELEASE_FILES) -> OsRelease | None:
    """The machine's OS release, or None when there is no such file (macOS, Windows, some containers)."""
    for path in files:
        try:
            return parse_os_release(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return None


def apt_package(soname: str) -> str:
    """Debian's package for a library: ``libxcb-icccm.so.4`` -> ``libxcb-icccm4``, ``libGL.so.1`` -> ``libgl1``."""
    match = _SONAME.match(soname)
    if not match:
        return soname
    stem, version = match["stem"], match["version"] or ""
    if stem in _APT_EXCEPTIONS:
        return _APT_EXCEPTIONS[stem]
    separator = "-" if stem[-1].isdigit() and version else ""
    return f"{stem}{separator}{version}".lower().replace("_", "-")


def rpm_capability(soname: str, is_64bit: bool | None = None) -> str:
    """The capability an RPM package provides for a library: ``libxcb-icccm.so.4()(64bit)``."""
    if is_64bit is None:
        is_64bit = sys.maxsize > 2**32 and platform.machine() not in ("i386", "i686", "armv7l")
    return f"{soname}()(64bit)" if is_64bit else soname


def pacman_package(soname: str) -> str | None:
    """Arch's package for a library Qt needs, or None when it is not one we know."""
    match = _SONAME.match(soname)
    return _PACMAN_PACKAGES.get(match["stem"]) if match else None


def install_command(sonames: list[str] | tuple[str, ...], family: str | None) -> str | None:
    """The line that installs the packages of ``sonames`` on a distribution of ``family``; None if unknown.

    For pacman, libraries without a known package are left to ``pacman -F``,
    which names the package that holds a file.
    """
    if family not in FAMILIES or not sonames:
        return None
    command = FAMILIES[family][1]
    if family == "apt":
        packages = list(dict.fromkeys(apt_package(name) for name in sonames))
    elif family in ("dnf", "zypper"):
        packages = [shlex.quote(rpm_capability(name)) for name in sonames]
    else:
        known = [pacman_package(name) for name in sonames]
        packages = list(dict.fromkeys(package for package in known if package))
        unknown = [name for name, package in zip(sonames, known) if package is None]
        if unknown:
            find = f"pacman -F {' '.join(unknown)}"
            return f"{command} {' '.join(packages)}  (and the packages `{find}` names)" if packages else find
    return f"{command} {' '.join(packages)}"
