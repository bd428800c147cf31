"""Image-folder benchmark: the decoded-folder cache against torchvision's ImageFolder with a DataLoader.

Writes ``--count`` small JPEG images (``--size`` pixels square, ten classes) into
a temporary folder, then measures, in this process:

- first load: listing and decoding the folder into the cache (all cores);
- cached load: opening the cache again (what every later run and every DDP rank does);
- an epoch's data time: shuffled, normalised, flip-augmented float batches of
  ``--batch-size`` (a) read from the memory-mapped cache a batch at a time
  (``StreamedBatches``, the path for folders larger than memory; on a GPU it
  also prefetches the next batch), (b) from the cache held whole in memory (``DeviceBatches``), and
  (c) torchvision ``ImageFolder`` + ``DataLoader(num_workers=2)`` decoding JPEGs
  per sample with ``RandomHorizontalFlip``, ``ToTensor`` and ``Normalize``;
- resident memory while streaming: how much the process grew while reading
  every image from the cache, against the decoded dataset's size.

    python bench/image_folder.py                  # 20,000 images of 32x32
    python bench/image_folder.py --count 4000     # quicker
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from convstudio.core.data.image_cache import load_cached_folder  # noqa: E402

_MAPPING_HEADER = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")  # a mapping's first line in /proc/self/smaps


def write_folder(root: Path, count: int, size: int, classes: int = 10) -> None:
    """``count`` JPEGs of smooth random colour fields (compressible, like photos), round-robin over classes."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in range(classes):
        (root / f"class{label}").mkdir(parents=True)
    coarse = max(2, size // 8)
    for index in range(count):
        small = rng.integers(0, 256, (coarse, coarse, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((size, size), Image.Resampling.BILINEAR)
        image.save(root / f"class{index % classes}" / f"{index:06d}.jpg", quality=90)


def resident_bytes() -> int:
    """This process's resident set size (Linux /proc; 0 where unknown)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def memory_parts(mapped_file: Path | None) -> tuple[int, int]:
    """(anonymous resident bytes, resident bytes of ``mapped_file``'s mappings) of this process (Linux; else 0, 0).

    Splitting them matters: reading through the cache also pages in torch's own
    library code (file-backed too), which is no part of the dataset.
    """
    anonymous = mapped = 0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                anonymous = int(line.split()[1]) * 1024
        if mapped_file is not None:
            inside = False
            for line in Path("/proc/self/smaps").read_text().splitlines():
                if _MAPPING_HEADER.match(line):
                    inside = line.rstrip().endswith(str(mapped_file))
                elif inside and line.startswith("Rss:"):
                    mapped += int(line.split()[1]) * 1024
    except OSError:
        pass
    return anonymous, mapped


def epoch_seconds(batches, epoch: int, mapped_file: Path | None = None) -> tuple[float, int, int]:
    """Seconds to draw every batch of ``epoch`` (an epoch's data time); the most anonymous and mapped memory seen."""
    started = time.perf_counter()
    most_anonymous = most_mapped = 0
    sampling = 0.0  # reading /proc/self/smaps takes milliseconds: not the data path's time
    for number, (images, _labels) in enumerate(batches.epoch(epoch)):
        images.sum()  # touch the batch as a training step would
        if mapped_file is not None and number % 4 == 0:
            sampled = time.perf_counter()
            anonymous, mapped = memory_parts(mapped_file)
            most_anonymous, most_mapped = max(most_anonymous, anonymous), max(most_mapped, mapped)
            sampling += time.perf_counter() - sampled
    return time.perf_counter() - started - sampling, most_anonymous, most_mapped


def dataloader_epoch_seconds(root: Path, batch_size: int, mean, std, workers: int) -> float:
    from torch.utils.data import DataLoader
    from torchvision import transforms
    from torchvision.datasets import ImageFolder

    transform = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                                    transforms.Normalize(mean, std)])
    loader = DataLoader(ImageFolder(str(root), transform=transform), batch_size=batch_size, shuffle=True,
                        num_workers=workers, persistent_workers=workers > 0)
    for _ in loader:  # warm-up epoch: starts the workers, fills the file cache
        pass
    started = time.perf_counter()
    for images, _labels in loader:
        images.sum()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20_000, help="images to generate (default 20,000)")
    parser.add_argument("--size", type=int, default=32, help="image width and height (default 32)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (default 2)")
    parser.add_argument("--threads", type=int, help="torch threads in this process (default: torch's choice)")
    args = parser.parse_args()

    import os

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from convstudio.core.data import AugmentationSettings, DeviceBatches
    from convstudio.core.data.datasets import channel_statistics
    from convstudio.core.data.streamed import MappedImages, StreamedBatches

    baseline = resident_bytes()
    work = Path(tempfile.mkdtemp(prefix="convstudio-image-folder-bench-"))
    try:
        root = work / "images"
        started = time.perf_counter()
        write_folder(root, args.count, args.size)
        print(f"wrote {args.count:,} JPEGs of {args.size}x{args.size} in {time.perf_counter() - started:.1f} s "
              f"({os.cpu_count()} cores, torch {torch.get_num_threads()} threads)")
        cache_dir = work / "data"

        started = time.perf_counter()
        load_cached_folder(root, data_dir=cache_dir)
        first = time.perf_counter() - started
        started = time.perf_counter()
        cached = load_cached_folder(root, data_dir=cache_dir)
        again = time.perf_counter() - started
        decoded = cached.nbytes
        print(f"first load (decode on all cores): {first:.2f} s ({args.count / first:,.0f} images/s)")
        print(f"cached load: {again * 1000:.1f} ms ({first / again:,.0f}x faster)")

        labels = torch.from_numpy(cached.labels)
        mapped = MappedImages(cached, np.arange(len(cached)))
        mean, std = channel_statistics(mapped)
        common = dict(batch_size=args.batch_size, device="cpu", mean=mean, std=std, shuffle=True,
                      augmentation=AugmentationSettings(flip=True), seed=0)
        streamed = StreamedBatches(mapped, labels, **common)
        images_file = cached.path / "images.npy"
        epoch_seconds(streamed, 0)  # warm-up: torch's thread pools and allocator caches settle
        cached.release_pages()
        anonymous_before, _ = memory_parts(images_file)
        streamed_time, most_anonymous, most_mapped = epoch_seconds(streamed, 1, images_file)
        streamed_peak = resident_bytes()
        cached.release_pages()
        in_memory = DeviceBatches(torch.from_numpy(cached.load_all()), labels, **common)
        epoch_seconds(in_memory, 0)
        memory_time, _, _ = epoch_seconds(in_memory, 1)
        del in_memory
        loader_time = dataloader_epoch_seconds(root, args.batch_size, mean, std, args.workers)

        print(f"epoch data time, {args.count:,} images, batch {args.batch_size}, flip, normalised:")
        print(f"  streamed from the cache (memory map, by batch): {streamed_time:.3f} s "
              f"({args.count / streamed_time:,.0f} images/s)")
        print(f"  cache held in memory (DeviceBatches):           {memory_time:.3f} s "
              f"({args.count / memory_time:,.0f} images/s)")
        print(f"  ImageFolder + DataLoader({args.workers} workers):          {loader_time:.3f} s "
              f"({args.count / loader_time:,.0f} images/s)")
        print(f"  ratio streamed / DataLoader: {loader_time / streamed_time:.1f}x faster (target >= 5x)")
        held = most_mapped + max(most_anonymous - anonymous_before, 0)
        print(f"resident memory for the data while streaming an epoch: at most {most_mapped / 2**20:.1f} MiB of the "
              f"cache mapped + {max(most_anonymous - anonymous_before, 0) / 2**20:.1f} MiB more anonymous memory = "
              f"{held / 2**20:.1f} MiB for a {decoded / 2**20:.1f} MiB decoded dataset ({held / decoded:.0%}; "
              f"target < 50%)")
        print(f"  whole process: {streamed_peak / 2**20:.0f} MiB, of which {baseline / 2**20:.0f} MiB were there "
              f"before any data (Python, torch)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
