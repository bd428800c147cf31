"""What ``auto`` means for precision and channels-last: the faster choice on the machine the run is on.

One rule, in one place, from measurements (``python bench/cpu_defaults.py``
prints them for every preset; ``bench/gpu_suite.py`` on a GPU):

- CUDA: bf16 autocast where the GPU computes in bf16 (Ampere and later), else
  fp16 autocast with the gradient scaler; channels-last on from compute
  capability 7.0 (tensor cores take NHWC without transposes).
- CPU: bf16 autocast only on a CPU with bf16 instructions (AVX512-BF16 or
  AMX on x86, BF16 on Arm). Elsewhere each bf16 operation converts in software
  and trains slower than fp32 (0.27x to 0.66x measured). Channels-last on x86
  with oneDNN, whose convolutions work in NHWC: faster for every 2-D preset
  measured (1.07x to 1.85x); off elsewhere (not measured).
- Apple MPS: fp32, contiguous.

A setting other than ``auto`` is taken as it stands.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from functools import cache

import torch

# bench/cpu_defaults.py on the development machine (2 cores, AVX512 without BF16, 2026-11-29), fp32
# channels-last against fp32 contiguous: cifar10 1.07x, shapes_small 1.56x, lenet 1.13x, resnet20 1.26x,
# inception_small 1.85x; bf16 autocast 0.27x to 0.66x.
_X86 = ("x86_64", "amd64", "i686", "x86")


def cpu_channels_last() -> bool:
    """Channels-last on this CPU: where oneDNN runs the convolutions (x86), which work in NHWC."""
    return platform.machine().lower() in _X86 and torch.backends.mkldnn.is_available()


@cache
def native_bf16_cpu() -> bool:
    """True when this CPU has bf16 arithmetic instructions (x86 AVX512-BF16 or AMX-BF16; Arm BF16)."""
    machine = platform.machine().lower()
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
                for line in info:
                    if line.startswith(("flags", "Features")):
                        flags = set(line.split(":", 1)[1].split())
                        return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})
        except OSError:
            return False
    if sys.platform == "darwin" and machine in ("arm64", "aarch64"):
        try:
            answer = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True,
                                    text=True, timeout=2)
            return answer.stdout.strip() == "1"
        except (OSError, subprocess.SubprocessError):
            return False
    return False


def cpu_choice() -> tuple[str, bool, str]:
    """(precision, channels_last, why) that ``auto`` means on this CPU."""
    if native_bf16_cpu():
        precision, why = "bf16", "the CPU has bf16 instructions"
    else:
        precision, why = "fp32", "no bf16 instructions on this CPU: bf16 would be converted in software"
    layout = cpu_channels_last()
    why += "; channels-last " + ("on: oneDNN convolutions work in NHWC" if layout else "off: not measured faster here")
    return precision, layout, why


def cuda_choice(device: torch.device) -> tuple[str, bool, str]:
    """(precision, channels_last, why) that ``auto`` means on this CUDA device."""
    major, minor = torch.cuda.get_device_capability(device)
    if torch.cuda.is_bf16_supported():
        precision, why = "bf16", f"compute capability {major}.{minor} computes in bf16"
    else:
        precision, why = "fp16", f"compute capability {major}.{minor} has no fast bf16; fp16 with loss scaling"
    return precision, major >= 7, why


def resolve(precision: str, channels_last: str | bool, device: torch.device,
            spatial_dims: int, optimizer: str = "adam") -> tuple[str, bool, str | None]:
    """The precision and memory format to train with, and a note when ``auto`` decided (None otherwise).

    ``precision`` is auto, fp32, bf16 or fp16; ``channels_last`` auto, on or
    off (True/False are read as on/off). Channels-last applies to 2-D images
    only, and never with L-BFGS (PyTorch's L-BFGS flattens every gradient with
    ``view``, which channels-last tensors refuse).
    """
    if device.type == "cuda":
        auto_precision, auto_layout, why = cuda_choice(device)
    elif device.type == "cpu":
        auto_precision, auto_layout, why = cpu_choice()
    else:
        auto_precision, auto_layout, why = "fp32", False, f"{device.type}: fp32 and contiguous"
    decided = []
    if precision == "auto":
        precision = auto_precision
        decided.append(precision)
    if channels_last == "auto":
        layout = auto_layout
        decided.append("channels-last" if layout else "contiguous")
    else:
        layout = channels_last in (True, "on")
    layout = layout and spatial_dims == 2
    note = f"auto: {', '.join(decided)} ({why})" if decided else None
    if layout and optimizer == "lbfgs":
        layout = False
        note = (note + "; " if note else "") + "channels-last off: L-BFGS needs contiguous parameters"
    return precision, layout, note
