"""Data path benchmark: on-device batch augmentation against torchvision's DataLoader.

Both paths produce the same thing from the same uint8 images: shuffled batches
of normalised float32 images on the training device, augmented with a random
horizontal flip, rotation, random resized crop and brightness/contrast jitter
drawn per sample.

(a) ``DeviceBatches``: the images live on the device as one uint8 tensor; each
    batch is one gather and a few whole-batch tensor operations.
(b) ``torch.utils.data.DataLoader`` over a dataset of the same images with
    per-sample ``torchvision.transforms.v2`` (RandomHorizontalFlip,
    RandomRotation, RandomResizedCrop, ColorJitter, ToDtype, Normalize), with
    ``num_workers`` 0 and 2, copied to the device per batch.

Each configuration runs one untimed warm-up epoch, then ``--epochs`` timed ones;
the figures are images per second and, in the same process, the ratio (a)/(b).

    python bench/data_path.py                 # CPU, and CUDA when present
    python bench/data_path.py --count 20000 --batch-size 512 --device cuda
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from convstudio.core.data import AugmentationSettings, DeviceBatches, generate_shapes  # noqa: E402
from convstudio.core.data.datasets import channel_statistics  # noqa: E402

ROTATE_DEGREES = 15.0
CROP_SCALE = 0.6
BRIGHTNESS = 0.3
CONTRAST = 0.3


class TransformedImages(Dataset):
    """uint8 CHW images with a per-sample torchvision transform, as a DataLoader pipeline sees them."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int):
        return self.transform(self.images[index]), self.labels[index]


def torchvision_transform(size: int, mean, std):
    return v2.Compose(
        [
            v2.RandomHorizontalFlip(),
            v2.RandomRotation(ROTATE_DEGREES),
            v2.RandomResizedCrop(size, scale=(CROP_SCALE, 1.0), antialias=True),
            v2.ColorJitter(brightness=BRIGHTNESS, contrast=CONTRAST),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean, std),
        ]
    )


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_epochs(run_epoch, epochs: int, device: torch.device) -> float:
    """Seconds for ``epochs`` epochs after one warm-up epoch."""
    run_epoch(-1)
    synchronise(device)
    started = time.perf_counter()
    for epoch in range(epochs):
        run_epoch(epoch)
    synchronise(device)
    return time.perf_counter() - started


def bench_device_batches(images, labels, mean, std, batch_size, device, epochs) -> float:
    settings = AugmentationSettings(
        flip=True, rotate_degrees=ROTATE_DEGREES, crop_scale=CROP_SCALE, brightness=BRIGHTNESS, contrast=CONTRAST
    )
    batches = DeviceBatches(images, labels, batch_size, device, mean, std, True, settings, seed=0)
    checksum = torch.zeros((), device=device)

    def run_epoch(epoch: int) -> None:
        nonlocal checksum
        for x, _ in batches.epoch(epoch + 1):
            checksum = checksum + x[0, 0, 0, 0]  # consume the batch without a host sync

    seconds = time_epochs(run_epoch, epochs, device)
    return images.shape[0] * epochs / seconds


def bench_dataloader(images, labels, mean, std, batch_size, device, epochs, workers) -> float:
    dataset = TransformedImages(images, labels, torchvision_transform(images.shape[-1], mean, std))
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
    checksum = torch.zeros((), device=device)

    def run_epoch(epoch: int) -> None:
        nonlocal checksum
        for x, y in loader:
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            checksum = checksum + x[0, 0, 0, 0]

    seconds = time_epochs(run_epoch, epochs, device)
    return images.shape[0] * epochs / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="images per epoch (built-in shapes, 32x32)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per configuration")
    parser.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: CPU, then CUDA if present"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader num_workers to compare")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in this process")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    images, labels = generate_shapes(args.count, seed=0)
    mean, std = channel_statistics(images)
    devices = {"auto": ["cpu"] + (["cuda"] if torch.cuda.is_available() else []), "cpu": ["cpu"], "cuda": ["cuda"]}
    print(
        f"{args.count} images 3x32x32, batch {args.batch_size}, {args.epochs} timed epochs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    for name in devices[args.device]:
        device = torch.device(name)
        label = torch.cuda.get_device_name(device) if name == "cuda" else "CPU"
        on_device = bench_device_batches(images, labels, mean, std, args.batch_size, device, args.epochs)
        print(f"[{label}] DeviceBatches (on-device batch augmentation): {on_device:12,.0f} images/s")
        for workers in args.workers:
            loader = bench_dataloader(images, labels, mean, std, args.batch_size, device, args.epochs, workers)
            print(
                f"[{label}] DataLoader + v2 transforms, num_workers={workers}: {loader:12,.0f} images/s"
                f"   ratio DeviceBatches/DataLoader = {on_device / loader:6.1f}x"
            )


if __name__ == "__main__":
    main()
