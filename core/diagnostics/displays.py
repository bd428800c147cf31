"""Whether the display a Qt platform would draw on is there: X11 (``DISPLAY``) and Wayland (``WAYLAND_DISPLAY``).

Qt's xcb plugin connects to the X server that ``DISPLAY`` names and aborts when
nothing answers; its wayland plugin connects to the compositor's socket. We try
the same connection (and close it at once), so the start-up message can say
"DISPLAY=:0 is set but no X server answers there" instead of Qt's abort.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path

_X_DISPLAY = re.compile(r"^(?P<host>[^:]*):(?P<number>\d+)(?:\.\d+)?$")
X_TCP_BASE_PORT = 6000
CONNECT_TIMEOUT_S = 1.0


def _connects(family: int, address, timeout: float = CONNECT_TIMEOUT_S) -> bool:
    try:
        with socket.socket(family, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(address)
    except OSError:
        return False
    return True


def x_display_problem(display: str) -> str | None:
    """Why the X display ``display`` (``:0``, ``localhost:10.0``, a socket path) cannot be reached; None when it can.

    A local display is the socket ``/tmp/.X11-unix/X<n>`` (or its abstract
    twin, which X servers on Linux also listen on); ``host:n`` is TCP port
    6000 + n on host (SSH's X forwarding gives ``localhost:10``).
    """
    if display.startswith("/"):  # XQuartz on macOS: a launchd socket path
        return None if Path(display.split(":")[0]).exists() else f"DISPLAY={display} names a socket that does not exist"
    match = _X_DISPLAY.match(display)
    if not match:
        return f"DISPLAY={display} is not a display name such as :0 or localhost:10.0"
    host, number = match["host"], int(match["number"])
    if host in ("", "unix"):
        path = f"/tmp/.X11-unix/X{number}"
        if _connects(socket.AF_UNIX, path) or (hasattr(socket, "AF_UNIX") and _connects(socket.AF_UNIX, "\0" + path)):
            return None
        return f"DISPLAY={display} is set but no X server answers at {path}"
    if _connects(socket.AF_INET, (host, X_TCP_BASE_PORT + number)):
        return None
    return (f"DISPLAY={display} is set but no X server answers at {host}, port {X_TCP_BASE_PORT + number} "
            "(is the SSH session's X forwarding still open?)")


def wayland_display_problem(environ: Mapping[str, str]) -> str | None:
    """Why the Wayland compositor of ``WAYLAND_DISPLAY`` cannot be reached; None when its socket answers."""
    name = environ.get("WAYLAND_DISPLAY") or "wayland-0"
    if os.path.isabs(name):
        path = name
    else:
        runtime = environ.get("XDG_RUNTIME_DIR")
        if not runtime:
            return "XDG_RUNTIME_DIR is not set, so the Wayland compositor's socket cannot be found"
        path = os.path.join(runtime, name)
    if _connects(socket.AF_UNIX, path):
        return None
    return f"WAYLAND_DISPLAY={name} is set but no Wayland compositor answers at {path}"
