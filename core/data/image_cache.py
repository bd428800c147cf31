"""A decoded image folder on disk: decoded once, in parallel, then opened instantly by every process.

An image folder (one subfolder per class) is decoded on its first load by a
pool of processes (all cores) straight into a uint8 ``(N, C, H, W)`` ``.npy``
file in the per-user data folder (:func:`core.paths.default_data_dir`, under
``image-cache/``). The cache's name is a hash of the folder's relative paths,
file sizes and modification times and of the image size, so an edited folder
is decoded again and an unchanged one never is.

A cache is built in a temporary folder beside its final place and renamed
into it (one atomic rename), so another process or another DDP rank either
finds a complete cache or none: never half of one. Two processes that build the
same cache at once both succeed; the second rename loses and its copy is
dropped.

Images that cannot be decoded are left out of the array and listed in the
cache's ``index.json`` with the reason; :func:`load_cached_folder` refuses them
by file name unless ``skip_unreadable``.

:class:`CachedImages` reads the array without holding it in memory: rows are
gathered from a read-only memory map, and the map's pages are handed back to
the operating system every :data:`RELEASE_BYTES` read, so a process that streams
a dataset larger than its memory stays small (see :mod:`core.data.streamed`).

Plain numpy and Pillow: no torch, so the pool's processes start quickly.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import shutil
import signal
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convstudio.core.atomic import atomic_write_text
from convstudio.core.paths import default_data_dir

# torchvision's IMG_EXTENSIONS, repeated so that listing a folder does not import torchvision.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
CACHE_FORMAT = 1  # part of every cache's key: a new layout never reads an old cache
CACHE_FOLDER = "image-cache"
CACHE_ENV = "CONVSTUDIO_IMAGE_CACHE"
RELEASE_BYTES = 8 * 1024 * 1024  # hand mapped pages back once about this much may be mapped (madvise is cheap)
_FAULT_AROUND_BYTES = 64 * 1024  # Linux maps this much around each page fault of a file mapping
_IMAGES_FILE, _LABELS_FILE, _INDEX_FILE = "images.npy", "labels.npy", "index.json"
_IN_PROCESS_BELOW = 256  # smaller folders decode in this process: starting a pool costs more

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]


class CacheCancelled(Exception):
    """Decoding was cancelled through ``should_stop``; nothing was left behind."""


@dataclass(frozen=True)
class FolderListing:
    """The images of an image folder, in torchvision ImageFolder's order.

    ``files`` are paths relative to ``root`` (with ``/``), ``labels`` their class
    indices into ``classes`` (the subfolder names, sorted); ``sizes`` and
    ``mtimes`` (nanoseconds) are what the cache key is made of.
    """

    root: Path
    classes: tuple[str, ...]
    files: tuple[str, ...]
    labels: tuple[int, ...]
    sizes: tuple[int, ...]
    mtimes: tuple[int, ...]

    def cache_key(self, image_size: int | None) -> str:
        """A hash of every file's relative path, size and modification time, and of the image size."""
        digest = hashlib.sha256(f"{CACHE_FORMAT}|{image_size}|{'|'.join(self.classes)}".encode())
        for file, size, mtime in zip(self.files, self.sizes, self.mtimes):
            digest.update(f"\n{file}|{size}|{mtime}".encode())
        return digest.hexdigest()[:32]


def _folder_error(message: str, root: Path) -> Exception:
    # sources.py imports torch; only the raising side needs it, never the pool's processes.
    from convstudio.core.data.sources import DatasetUnavailable

    return DatasetUnavailable(message, str(root), root)


def list_image_folder(path: str | Path) -> FolderListing:
    """Every image under ``path/<class>/`` (any depth, symbolic links followed), sorted as ImageFolder sorts.

    Raises DatasetUnavailable when ``path`` is not a folder, has no class
    subfolders, or has a class subfolder without images.
    """
    root = Path(path).expanduser()
    how = (f"An image folder holds one subfolder per class with the images in it "
           f"({', '.join(IMAGE_EXTENSIONS)}), e.g. {root / 'cats' / 'cat1.png'}.")
    if not root.is_dir():
        raise _folder_error(f"{root} is not a folder. {how}", root)
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    if not classes:
        raise _folder_error(f"{root} has no class subfolders. {how}", root)
    files, labels, sizes, mtimes, empty = [], [], [], [], []
    for label, name in enumerate(classes):
        found = 0
        # Plain strings, not Path objects: listing is what every cached load pays for.
        for folder, _, names in sorted(os.walk(root / name, followlinks=True)):
            prefix = os.path.relpath(folder, root).replace(os.sep, "/") + "/"
            for file in sorted(names):
                if not file.lower().endswith(IMAGE_EXTENSIONS):
                    continue
                info = os.stat(os.path.join(folder, file))
                files.append(prefix + file)
                labels.append(label)
                sizes.append(info.st_size)
                mtimes.append(info.st_mtime_ns)
                found += 1
        if not found:
            empty.append(name)
    if len(empty) == len(classes):
        raise _folder_error(f"the class folders in {root} hold no images. {how}", root)
    if empty:
        raise _folder_error(f"the class folders {', '.join(empty)} in {root} hold no images: add images or "
                            f"remove these folders. {how}", root)
    return FolderListing(root, tuple(classes), tuple(files), tuple(labels), tuple(sizes), tuple(mtimes))


def decode_image(file: Path, size: tuple[int, int] | None) -> np.ndarray:
    """One image as RGB uint8 (H, W, 3), resized (bilinear) to ``size`` = (width, height) when given.

    Raises OSError or ValueError when the file is not a readable image.
    """
    from PIL import Image

    with Image.open(file) as opened:
        if size is not None and opened.format == "JPEG":
            opened.draft("RGB", size)  # a large JPEG decodes at a fraction of its size: much faster
        image = opened.convert("RGB")
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def _decode_rows(array_path: str, root: str, files: list[str], first_row: int,
                 size: tuple[int, int]) -> list[tuple[int, str]]:
    """Decode ``files`` into rows ``first_row...`` of the .npy at ``array_path``; returns (row, reason) failures.

    Runs in the pool's processes: each writes its rows into the shared file,
    so no pixels travel back through a pipe.
    """
    array = np.load(array_path, mmap_mode="r+")
    failures = []
    for offset, file in enumerate(files):
        try:
            array[first_row + offset] = decode_image(Path(root) / file, size).transpose(2, 0, 1)
        except (OSError, ValueError) as error:
            failures.append((first_row + offset, f"{type(error).__name__}: {error}"))
    array.flush()
    del array
    return failures


def cache_root(data_dir: str | Path | None = None) -> Path:
    """The folder holding every decoded image folder: ``image-cache`` in ``data_dir``.

    Without ``data_dir``: ``$CONVSTUDIO_IMAGE_CACHE`` when set (the tests keep their
    caches out of the user's folder this way), else ``image-cache`` in the per-user
    data folder (:func:`core.paths.default_data_dir`).
    """
    if data_dir is not None:
        return Path(data_dir).expanduser() / CACHE_FOLDER
    override = os.environ.get(CACHE_ENV)
    return Path(override).expanduser() if override else default_data_dir() / CACHE_FOLDER


class CachedImages:
    """A decoded image folder: classes, labels, and the uint8 (N, C, H, W) images, memory-mapped.

    ``unreadable`` lists ``(relative file, reason)`` for the images left out.
    :meth:`read_rows` gathers rows without keeping them resident;
    :meth:`load_all` reads the whole array into memory.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        index = json.loads((self.path / _INDEX_FILE).read_text(encoding="utf-8"))
        self.classes: tuple[str, ...] = tuple(index["classes"])
        self.source = index["source"]
        self.unreadable: tuple[tuple[str, str], ...] = tuple((row["file"], row["reason"])
                                                              for row in index["unreadable"])
        self.labels = np.load(self.path / _LABELS_FILE)
        images_file = self.path / _IMAGES_FILE
        with open(images_file, "rb") as stream:
            version = np.lib.format.read_magic(stream)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(stream)
            self._offset = stream.tell()
        if fortran or dtype != np.uint8 or len(shape) != 4:
            raise ValueError(f"{images_file} is not a uint8 (N, C, H, W) array")
        self.shape: tuple[int, int, int, int] = tuple(shape)
        self._file = images_file
        self._map: mmap.mmap | None = None
        self._array: np.ndarray | None = None
        self._read_since_release = 0

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        """Size of the decoded images in bytes (what holding them all in memory takes)."""
        return int(np.prod(self.shape))

    @property
    def array(self) -> np.ndarray:
        """The images as a read-only (N, C, H, W) array backed by the memory map (no copy)."""
        if self._array is None:
            with open(self._file, "rb") as stream:
                self._map = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
            self._array = np.frombuffer(self._map, np.uint8, self.nbytes, self._offset).reshape(self.shape)
        return self._array

    def read_rows(self, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Images at ``rows`` (any order) as a (len(rows), C, H, W) array, written into ``out`` when given."""
        gathered = np.take(self.array, rows, axis=0, out=out)
        # Each row read maps at least the system's fault-around window (64 KiB on Linux), not just its bytes.
        self._read_since_release += len(rows) * max(gathered[:1].nbytes, _FAULT_AROUND_BYTES)
        if self._read_since_release >= RELEASE_BYTES:
            self.release_pages()
        return gathered

    def release_pages(self) -> None:
        """Drop the mapped pages from this process (they stay in the system's file cache for the next read).

        Without this a process that has read the whole map counts all of it as
        resident; where the platform cannot (Windows), the system trims on its own.
        """
        self._read_since_release = 0
        if self._map is not None and hasattr(self._map, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)

    def load_all(self) -> np.ndarray:
        """Every image, read into memory with plain file reads (no mapping is kept)."""
        return np.fromfile(self._file, np.uint8, self.nbytes, offset=self._offset).reshape(self.shape)

    def close(self) -> None:
        """Unmap the images (arrays returned by :attr:`array` must not be used afterwards)."""
        self._array = None
        if self._map is not None:
            self._map.close()
            self._map = None


def unreadable_message(root: Path, unreadable: tuple[tuple[str, str], ...], shown: int = 5) -> str:
    """A sentence naming the images that could not be read, and the two ways on."""
    skip = "(--skip-unreadable, or 'skip unreadable images' in the Data settings)"
    if len(unreadable) == 1:
        file, reason = unreadable[0]
        return f"{root / file} cannot be read as an image ({reason}). Replace or delete it, or skip it {skip}."
    names = "; ".join(f"{root / file} ({reason})" for file, reason in unreadable[:shown])
    more = f" and {len(unreadable) - shown} more" if len(unreadable) > shown else ""
    return (f"{len(unreadable)} images in {root} cannot be read: {names}{more}. "
            f"Replace or delete them, or skip them {skip}.")


def open_cache(listing: FolderListing, image_size: int | None, data_dir: str | Path | None = None
               ) -> CachedImages | None:
    """The cache of ``listing`` at ``image_size`` when one was built, else None."""
    path = cache_root(data_dir) / listing.cache_key(image_size)
    return CachedImages(path) if (path / _INDEX_FILE).is_file() else None


def load_cached_folder(path: str | Path, image_size: int | None = None, *, skip_unreadable: bool = False,
                       data_dir: str | Path | None = None, progress: Progress | None = None,
                       should_stop: ShouldStop | None = None, workers: int | None = None) -> CachedImages:
    """The decoded image folder at ``path``: opened from the cache, or decoded into it first.

    ``image_size`` resizes every image to that square (else every image takes
    the first readable image's size). ``progress(done, total)`` counts decoded
    images; ``should_stop()`` is polled while decoding and ends it with
    :class:`CacheCancelled`. ``workers`` decoding processes (default: all cores).
    Raises DatasetUnavailable for an unusable folder, and for unreadable images
    unless ``skip_unreadable``.
    """
    listing = list_image_folder(path)
    cached = open_cache(listing, image_size, data_dir)
    if cached is None:
        cached = build_cache(listing, image_size, data_dir, progress, should_stop, workers)
    elif progress is not None:
        progress(len(listing.files), len(listing.files))
    if cached.unreadable and not skip_unreadable:
        raise _folder_error(unreadable_message(listing.root, cached.unreadable), listing.root)
    if len(cached) == 0:
        raise _folder_error(f"no image in {listing.root} can be read.", listing.root)
    return cached


def build_cache(listing: FolderListing, image_size: int | None, data_dir: str | Path | None = None,
                progress: Progress | None = None, should_stop: ShouldStop | None = None,
                workers: int | None = None) -> CachedImages:
    """Decode every image of ``listing`` into a new cache (atomically) and open it."""
    root = cache_root(data_dir)
    final = root / listing.cache_key(image_size)
    building = root / f".{final.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.building"
    building.mkdir(parents=True)
    try:
        _decode_into(building, listing, image_size, progress, should_stop, workers)
        try:
            os.rename(building, final)
        except OSError:
            if not (final / _INDEX_FILE).is_file():
                raise
            shutil.rmtree(building, ignore_errors=True)  # another process finished the same cache first
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return CachedImages(final)


def _first_size(listing: FolderListing, image_size: int | None) -> tuple[int, int]:
    """(width, height) every image is resized to: ``image_size`` squared, else the first readable image's."""
    if image_size is not None:
        return (image_size, image_size)
    for file in listing.files:
        try:
            height, width = decode_image(listing.root / file, None).shape[:2]
            return (width, height)
        except (OSError, ValueError):
            continue
    return (1, 1)  # nothing is readable: every image will be reported


def _decode_into(folder: Path, listing: FolderListing, image_size: int | None, progress: Progress | None,
                 should_stop: ShouldStop | None, workers: int | None) -> None:
    total = len(listing.files)
    width, height = _first_size(listing, image_size)
    decoded = folder / "decoded.npy"
    np.lib.format.open_memmap(decoded, mode="w+", dtype=np.uint8, shape=(total, 3, height, width)).flush()
    workers = workers or os.cpu_count() or 1
    # Small enough for smooth progress and a prompt cancel (a pool's running chunks finish first).
    chunk = max(16, min(128, total // (workers * 8) or 1))
    spans = [(start, list(listing.files[start:start + chunk])) for start in range(0, total, chunk)]
    failures: list[tuple[int, str]] = []
    decoded_spans: set[int] = set()
    done = 0
    if progress is not None:
        progress(0, total)  # a bar can show the count at once, before the first chunk is back

    def finished(start: int, count: int, failed: list[tuple[int, str]]) -> None:
        nonlocal done
        decoded_spans.add(start)
        done += count
        failures.extend(failed)
        if progress is not None:
            progress(done, total)

    if workers > 1 and total >= _IN_PROCESS_BELOW:
        try:
            _decode_in_pool(decoded, listing, spans, (width, height), workers, finished, should_stop)
        except CacheCancelled:
            raise CacheCancelled(f"decoding {listing.root} cancelled after {done} of {total} images") from None
        except BrokenProcessPool:
            # The pool's processes could not start (a main module they cannot re-import, such as
            # code piped to python): decode what is left here instead.
            pass
    for start, files in spans:
        if start in decoded_spans:
            continue
        if should_stop is not None and should_stop():
            raise CacheCancelled(f"decoding {listing.root} cancelled after {done} of {total} images")
        finished(start, len(files), _decode_rows(str(decoded), str(listing.root), files, start, (width, height)))
    _write_cache_files(folder, listing, decoded, sorted(failures))


def _decode_in_pool(decoded: Path, listing: FolderListing, spans, size, workers: int, finished,
                    should_stop: ShouldStop | None) -> None:
    import multiprocessing

    # spawn: a forked copy of a process with threads (torch, Qt) can deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_leave_interrupts_to_parent) as pool:
        pending = {pool.submit(_decode_rows, str(decoded), str(listing.root), files, start, size): (start, len(files))
                   for start, files in spans}
        try:
            while pending:
                ready, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in ready:
                    start, count = pending.pop(future)
                    finished(start, count, future.result())
                if should_stop is not None and should_stop():
                    raise CacheCancelled(f"decoding {listing.root} cancelled")
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _leave_interrupts_to_parent() -> None:
    """In a pool's process: ignore Ctrl-C, which a terminal sends to every process of the command.

    The parent decides: it cancels the decoding (its ``should_stop``) or quits;
    a pool process that died of the signal would break the pool instead.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _write_cache_files(folder: Path, listing: FolderListing, decoded: Path, failures: list[tuple[int, str]]) -> None:
    """images.npy without the unreadable rows, labels.npy and index.json, in ``folder``."""
    labels = np.asarray(listing.labels, dtype=np.int64)
    images = folder / _IMAGES_FILE
    if not failures:
        os.replace(decoded, images)
    else:
        keep = np.ones(len(labels), dtype=bool)
        keep[[row for row, _ in failures]] = False
        source = np.load(decoded, mmap_mode="r")
        kept = np.flatnonzero(keep)
        target = np.lib.format.open_memmap(images, mode="w+", dtype=np.uint8, shape=(len(kept), *source.shape[1:]))
        for start in range(0, len(kept), 4096):  # in slices: the folder may be larger than memory
            target[start:start + 4096] = source[kept[start:start + 4096]]
        target.flush()
        del source, target
        decoded.unlink()
        labels = labels[keep]
    np.save(folder / _LABELS_FILE, labels)
    index = {
        "format": CACHE_FORMAT, "source": str(listing.root.absolute()), "classes": list(listing.classes),
        "count": int(len(labels)),
        "unreadable": [{"file": listing.files[row], "reason": reason} for row, reason in failures],
    }
    atomic_write_text(folder / _INDEX_FILE, json.dumps(index, indent=1))
