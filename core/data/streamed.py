"""Datasets larger than the device's memory: batches read from a memory-mapped cache, one ahead.

:class:`MappedImages` stands for some rows of a :class:`~core.data.image_cache.CachedImages`
(a split, a limit) without reading them: indexing it (``images[5]``, ``images[:32]``,
``images[index_tensor]``) reads just those images into a uint8 tensor, so the code
that takes a few images from a split (statistics in chunks, previews, examples)
works on it as on a tensor.

:class:`StreamedBatches` yields the same batches as :class:`~core.data.batches.DeviceBatches`
(same order, same augmentation, same normalisation, from the same seeds) but
keeps only a few batches in memory: on a GPU a background thread gathers the next
batch from the map into a pinned buffer while the current one trains, and the
batch is copied to the device and augmented there (on the CPU the batch is
gathered when it is asked for: a second thread would only compete for its cores).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from convstudio.core.data.augment import AugmentationSettings
from convstudio.core.data.batches import DeviceBatches
from convstudio.core.data.image_cache import CachedImages

_BUFFERS = 3  # one training, one queued, one being filled


class MappedImages:
    """Rows ``rows`` of a cached image folder, read on demand as uint8 (N, C, H, W) tensors."""

    def __init__(self, cache: CachedImages, rows: np.ndarray) -> None:
        self.cache = cache
        self.rows = np.asarray(rows, dtype=np.int64)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.rows), *self.cache.shape[1:]))

    @property
    def dtype(self) -> torch.dtype:
        return torch.uint8

    @property
    def nbytes(self) -> int:
        """Bytes these images take in memory."""
        return len(self.rows) * int(np.prod(self.cache.shape[1:]))

    def dim(self) -> int:
        return 4

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, index: torch.Tensor | np.ndarray | slice) -> MappedImages:
        """These images' ``index`` entries, still unread."""
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        return MappedImages(self.cache, self.rows[index])

    def __getitem__(self, index) -> torch.Tensor:
        """The images at ``index`` (an int, a slice, or integer indices), read now."""
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        rows = self.rows[index]
        if np.ndim(rows) == 0:
            return torch.from_numpy(self.cache.read_rows(np.array([rows]))[0])
        return torch.from_numpy(self.cache.read_rows(rows))


class StreamedBatches(DeviceBatches):
    """:class:`DeviceBatches`' batches from :class:`MappedImages`, read a batch at a time, the next one prefetched.

    Only ``labels`` (small) are held on the device; images are gathered from the
    map into reused buffers (pinned for CUDA), by a background thread one batch
    ahead when ``prefetch`` (default: on for every device but the CPU), copied to
    the device without blocking, then augmented and normalised there exactly as
    DeviceBatches does.
    """

    def __init__(self, images_u8: MappedImages, labels: torch.Tensor, batch_size: int, device: torch.device | str,
                 mean: Sequence[float], std: Sequence[float], shuffle: bool,
                 augmentation: AugmentationSettings | None, seed: int, drop_last: bool = False,
                 channels_last: bool = False, prefetch: bool | None = None) -> None:
        if labels.shape[0] != len(images_u8):
            raise ValueError(f"{len(images_u8)} images but labels of shape {tuple(labels.shape)}")
        # The parent checks the arguments and sets up normalisation and augmentation; it is handed
        # no images, so it copies none to the device.
        nothing = torch.empty((0, *images_u8.shape[1:]), dtype=torch.uint8)
        super().__init__(nothing, labels[:0], batch_size, device, mean, std, shuffle, augmentation, seed,
                         drop_last, channels_last)
        self.mapped = images_u8
        self.labels = labels.to(self.device, torch.int64)
        self._pin = self.device.type == "cuda"
        # Prefetching pays where the device computes apart from the host (a GPU); on the CPU a reading
        # thread would only take cores from the training threads (reading a batch takes well under a ms).
        self.prefetch = self.device.type != "cpu" if prefetch is None else prefetch

    @property
    def num_samples(self) -> int:
        return len(self.mapped)

    def iter_from(self, epoch_index: int, start_batch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if start_batch < 0:
            raise ValueError(f"start_batch must be at least 0, not {start_batch}")
        order = self._order(epoch_index)
        host_order = order.cpu().numpy() if order is not None else None
        spans = []
        for batch in range(start_batch, len(self)):
            start = batch * self.batch_size
            stop = min(start + self.batch_size, self.num_samples)
            spans.append((batch, start, stop))
        reader = _Prefetcher(self.mapped, host_order, spans, self.batch_size, self._pin, threaded=self.prefetch)
        try:
            for (batch, start, stop), host in reader:
                images = host.to(self.device, non_blocking=self._pin)
                reader.copied(images)
                if order is None:
                    labels = self.labels[start:stop]
                else:
                    labels = self.labels[order[start:stop]]
                yield self._prepare(images, epoch_index, batch), labels
        finally:
            reader.close()


class _Prefetcher:
    """A thread that gathers each span's images into one of a few reused buffers, one span ahead."""

    def __init__(self, images: MappedImages, order: np.ndarray | None, spans, batch_size: int, pin: bool,
                 threaded: bool = True) -> None:
        self._images = images
        self._order = order
        self._spans = spans
        shape = (batch_size, *images.shape[1:])
        count = _BUFFERS if threaded else 1
        self._buffers = [torch.empty(shape, dtype=torch.uint8, pin_memory=pin) for _ in range(count)]
        self._copied: list = [None] * count  # CUDA events: a buffer is refilled only once its copy is done
        self._ready: queue.Queue = queue.Queue(maxsize=1)
        self._closing = threading.Event()
        self._slot = 0
        self._thread = None
        if threaded:
            self._thread = threading.Thread(target=self._fill, name="streamed-batches", daemon=True)
            self._thread.start()

    def _read(self, number: int, start: int, stop: int) -> torch.Tensor:
        """Span ``number``'s images, gathered from the map into its buffer."""
        slot = number % len(self._buffers)
        if self._copied[slot] is not None:
            self._copied[slot].synchronize()
        positions = np.arange(start, stop) if self._order is None else self._order[start:stop]
        buffer = self._buffers[slot][: stop - start]
        self._images.cache.read_rows(self._images.rows[positions], out=buffer.numpy())
        return buffer

    def _fill(self) -> None:
        try:
            for number, (batch, start, stop) in enumerate(self._spans):
                if not self._put(((batch, start, stop), self._read(number, start, stop))):
                    return
            self._put(None)
        except BaseException as error:  # noqa: BLE001 - handed to the consuming thread, which raises it
            self._put(error)

    def _put(self, item) -> bool:
        while not self._closing.is_set():
            try:
                self._ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self):
        if self._thread is None:  # read in the consuming thread
            for number, span in enumerate(self._spans):
                yield span, self._read(number, span[1], span[2])
            return
        while True:
            item = self._ready.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
            self._slot = (self._slot + 1) % len(self._buffers)

    def copied(self, device_images: torch.Tensor) -> None:
        """Note that the current buffer's copy to the device was queued (CUDA: its end is an event)."""
        if device_images.device.type == "cuda":
            event = torch.cuda.Event()
            event.record()
            self._copied[self._slot] = event

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join()
