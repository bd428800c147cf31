"""Which shared libraries an ELF file needs, and which of them fail to load here.

Qt loads its platform plugin (``platforms/libqxcb.so``) with ``dlopen``; when one
library it needs is missing, Qt prints a generic message and aborts. To name the
missing libraries we read each file's needed libraries (``DT_NEEDED``) and its
``RUNPATH``/``RPATH`` from the ELF dynamic section, follow the libraries shipped
beside it (PySide6's own Qt libraries), and try to load every system library
the way the plugin would: with ``dlopen`` (through ctypes). No Qt is imported,
so this works before a QApplication exists; nothing here is Linux-only Python,
but only ELF files (Linux and other Unix systems) are read.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_ELF_MAGIC = b"\x7fELF"
_SHT_DYNAMIC = 6
_DT_NULL, _DT_NEEDED, _DT_RPATH, _DT_RUNPATH = 0, 1, 15, 29
# dlopen's message for a library it cannot find: "libfoo.so.1: cannot open shared object file: ..."
_NOT_FOUND = re.compile(r"([^\s:/]+\.so[\w.]*): cannot open shared object file")

# Tries to load a library by name; returns None when it loads, else the loader's message.
Loader = Callable[[str], "str | None"]


@dataclass(frozen=True)
class ElfLinks:
    """The libraries an ELF file names as needed, and where it asks them to be looked for first."""

    needed: tuple[str, ...]
    search_dirs: tuple[Path, ...]  # RUNPATH (or RPATH) with $ORIGIN replaced by the file's folder


@dataclass(frozen=True)
class MissingLibrary:
    """A system library that failed to load, and the file that needs it."""

    name: str  # e.g. "libxcb-icccm.so.4"
    needed_by: str  # file name of the library or plugin that needs it


class NotElfError(ValueError):
    """The file is not an ELF shared object (or is truncated)."""


def read_elf_links(path: str | Path) -> ElfLinks:
    """``DT_NEEDED`` entries and ``RUNPATH``/``RPATH`` folders of an ELF file (32- or 64-bit, either byte order).

    Raises NotElfError for a file that is not ELF and OSError when it cannot be read.
    """
    path = Path(path)
    with open(path, "rb") as file:
        if file.read(4) != _ELF_MAGIC or os.fstat(file.fileno()).st_size < 64:
            raise NotElfError(f"{path} is not an ELF file")
        # Mapped, not read: Qt's libraries are tens of megabytes, and only their headers are needed.
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _links_in(path, data)


def _links_in(path: Path, data) -> ElfLinks:
    is_64 = data[4] == 2
    order = "<" if data[5] == 1 else ">"
    try:
        if is_64:
            shoff, = struct.unpack_from(order + "Q", data, 0x28)
            shentsize, shnum = struct.unpack_from(order + "HH", data, 0x3A)
            section = struct.Struct(order + "IIQQQQIIQQ")  # name type flags addr offset size link info align entsize
            entry = struct.Struct(order + "qQ")
        else:
            shoff, = struct.unpack_from(order + "I", data, 0x20)
            shentsize, shnum = struct.unpack_from(order + "HH", data, 0x2E)
            section = struct.Struct(order + "IIIIIIIIII")
            entry = struct.Struct(order + "iI")
        sections = [section.unpack_from(data, shoff + index * shentsize) for index in range(shnum)]
    except struct.error:
        raise NotElfError(f"{path} is a truncated ELF file") from None
    needed: list[str] = []
    paths: list[str] = []
    for header in sections:
        if header[1] != _SHT_DYNAMIC:
            continue
        strings = sections[header[6]]  # sh_link: the dynamic string table
        string_start = strings[4]
        for offset in range(header[4], header[4] + header[5], entry.size):
            tag, value = entry.unpack_from(data, offset)
            if tag == _DT_NULL:
                break
            if tag in (_DT_NEEDED, _DT_RPATH, _DT_RUNPATH):
                end = data.find(b"\0", string_start + value)
                text = data[string_start + value:end].decode("utf-8", "replace")
                (needed if tag == _DT_NEEDED else paths).append(text)
    origin = str(path.resolve().parent)
    search = tuple(Path(part.replace("$ORIGIN", origin).replace("${ORIGIN}", origin))
                   for joined in paths for part in joined.split(":") if part)
    return ElfLinks(tuple(needed), search)


def dlopen_error(name: str) -> str | None:
    """Load library ``name`` as the dynamic loader would for a plugin; None when it loads, else why not."""
    try:
        ctypes.CDLL(name, mode=os.RTLD_LAZY | os.RTLD_LOCAL)
    except OSError as error:
        return str(error)
    return None


def missing_libraries(root: str | Path, load: Loader = dlopen_error) -> list[MissingLibrary]:
    """The system libraries that ``root`` (a plugin or module) needs and that fail to load, in the order found.

    Libraries found in a file's RUNPATH folders (the ones PySide6 ships) are
    followed into their own needs; every other library is loaded with ``load``,
    and when it fails because one of *its* libraries is missing, that library
    is the one reported (dlopen names it).
    """
    missing: dict[str, MissingLibrary] = {}
    seen: set[str] = set()
    queue = [Path(root)]
    while queue:
        current = queue.pop(0)
        try:
            links = read_elf_links(current)
        except (OSError, ValueError, IndexError):  # NotElfError is a ValueError
            continue
        for name in links.needed:
            if name in seen:
                continue
            seen.add(name)
            shipped = next((folder / name for folder in links.search_dirs if (folder / name).is_file()), None)
            if shipped is not None:
                queue.append(shipped)
                continue
            problem = load(name)
            if problem is None:
                continue
            found = _NOT_FOUND.search(problem)
            culprit = found.group(1) if found else name
            missing.setdefault(culprit, MissingLibrary(culprit, current.name))
    return list(missing.values())
