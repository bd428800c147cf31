"""Fetching one file over HTTP with progress, for the datasets torchvision knows.

torchvision downloads with a tqdm bar on the terminal and no way to hear about
progress. ConvStudio fetches the same archive itself, into the same place and
under the same name, checking the same MD5; torchvision then finds the archive
present and only unpacks it. So the files on disk are exactly torchvision's, and
a progress callback can drive the GUI's bar.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

_CHUNK_BYTES = 1 << 16
_TIMEOUT_S = 30  # per blocking network operation, not for the whole file
_USER_AGENT = "pytorch/vision"  # what torchvision sends; some mirrors refuse unknown agents

Progress = Callable[[int, int], None]


class DownloadFailed(Exception):
    """No URL gave the file; the message lists each URL and what went wrong."""


def file_md5(path: Path) -> str:
    """Hex MD5 of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(urls: Sequence[str], destination: Path, md5: str | None, progress: Progress | None = None) -> None:
    """Download the first URL that works to ``destination``, checking ``md5``.

    Does nothing when ``destination`` already holds the right file. Writes through
    ``destination.part`` and renames at the end, so an interrupted download never
    leaves a file that looks complete. ``progress(done_bytes, total_bytes)`` is
    called as bytes arrive (``total_bytes`` is 0 when the server does not say).
    Raises DownloadFailed naming every URL tried and why it failed.
    """
    destination = Path(destination)
    if destination.is_file() and (md5 is None or file_md5(destination) == md5):
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    failures = []
    for url in urls:
        try:
            _fetch_one(url, partial, progress)
            if md5 is not None and (found := file_md5(partial)) != md5:
                raise DownloadFailed(f"the file arrived but its MD5 is {found}, not {md5}")
            os.replace(partial, destination)
            return
        except (urllib.error.URLError, OSError, ValueError, DownloadFailed) as error:
            partial.unlink(missing_ok=True)
            reason = getattr(error, "reason", None) or error
            failures.append(f"{url}: {reason}")
    raise DownloadFailed("; ".join(failures) or "no URL to download from")


def _fetch_one(url: str, partial: Path, progress: Progress | None) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response, open(partial, "wb") as stream:
        total = int(response.headers.get("Content-Length") or 0)
        done = 0
        if progress is not None:
            progress(0, total)
        while chunk := response.read(_CHUNK_BYTES):
            stream.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
