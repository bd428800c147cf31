"""GPUs as the system sees them and as PyTorch sees them, and why one is not offered for training.

The most common GPU complaint is a GPU that is not used: the NVIDIA driver
sees it, but the installed PyTorch is a CPU-only wheel, or was built for a
newer CUDA than the driver supports. :func:`system_nvidia_gpus` asks the
driver (``/proc/driver/nvidia`` on Linux, else ``nvidia-smi``) without torch;
:func:`torch_cuda_status` asks PyTorch (this imports torch); :func:`gpu_problem`
compares the two and says why, with the command that installs the right wheel.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path

NVIDIA_PROC = Path("/proc/driver/nvidia")
PYTORCH_INDEX = "https://download.pytorch.org/whl"
PYTORCH_SELECTOR = "https://pytorch.org/get-started/locally/"
# PyTorch's CUDA wheels (index suffix, the lowest driver CUDA version that runs them), newest first.
CUDA_WHEELS: tuple[tuple[str, tuple[int, int]], ...] = (
    ("cu130", (13, 0)), ("cu128", (12, 8)), ("cu126", (12, 6)), ("cu124", (12, 4)), ("cu121", (12, 1)),
    ("cu118", (11, 8)),
)
_NVIDIA_SMI_TIMEOUT_S = 10


@dataclass(frozen=True)
class SystemGpus:
    """NVIDIA GPUs the driver reports, whatever PyTorch makes of them."""

    names: tuple[str, ...] = ()
    driver_version: str | None = None
    driver_cuda: str | None = None  # the newest CUDA the driver supports, e.g. "12.4"


@dataclass(frozen=True)
class CudaDevice:
    """One GPU PyTorch can use."""

    index: int
    name: str
    memory_gib: float
    compute_capability: str  # "9.0"


@dataclass(frozen=True)
class TorchCuda:
    """What PyTorch says about CUDA."""

    torch_version: str
    built_with_cuda: str | None  # torch.version.cuda; None for a CPU-only (or ROCm) build
    built_with_hip: str | None
    cudnn_version: str | None
    available: bool
    devices: tuple[CudaDevice, ...] = ()
    arch_list: tuple[str, ...] = ()  # the GPU architectures the build has kernels for ("sm_90", ...)
    warning: str | None = None  # what torch warned while looking (a driver too old, ...)
    bf16: bool = False
    mps_available: bool = False
    mps_built: bool = False
    cpu_threads: int = 1


@dataclass(frozen=True)
class GpuProblem:
    """Why a GPU the system has is not offered for training, and what fixes it."""

    reason: str
    fix: str
    short: str = field(default="")  # a few words for a device list: "PyTorch is a CPU-only build"


def _nvidia_smi(*arguments: str) -> str | None:
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return None
    try:
        result = subprocess.run([executable, *arguments], capture_output=True, text=True,
                                timeout=_NVIDIA_SMI_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def system_nvidia_gpus(proc: Path = NVIDIA_PROC) -> SystemGpus:
    """The NVIDIA GPUs the driver reports: from ``/proc/driver/nvidia`` (Linux), else ``nvidia-smi``."""
    names: list[str] = []
    for information in sorted((proc / "gpus").glob("*/information")):
        try:
            text = information.read_text(errors="replace")
        except OSError:
            continue
        model = re.search(r"^Model:\s*(.+)$", text, re.MULTILINE)
        names.append(model.group(1).strip() if model else information.parent.name)
    driver = None
    try:
        version_text = (proc / "version").read_text(errors="replace")
        found = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", version_text)
        driver = found.group(1) if found else None
    except OSError:
        pass
    summary = _nvidia_smi()
    if summary is None and not names:
        return SystemGpus()
    if summary is not None:
        if not names:
            listed = _nvidia_smi("--query-gpu=name", "--format=csv,noheader") or ""
            names = [line.strip() for line in listed.splitlines() if line.strip()]
        found_driver = re.search(r"Driver Version:\s*([\d.]+)", summary)
        driver = driver or (found_driver.group(1) if found_driver else None)
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", summary or "")
    return SystemGpus(tuple(names), driver, cuda.group(1) if cuda else None)


def torch_cuda_status() -> TorchCuda:
    """What PyTorch sees: its CUDA build, the GPUs it can use, bf16, MPS and CPU threads (imports torch)."""
    import torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        available = bool(torch.cuda.is_available())
    warning = next((str(item.message).strip() for item in caught if "cuda" in str(item.message).lower()), None)
    devices: list[CudaDevice] = []
    arch_list: tuple[str, ...] = ()
    bf16 = False
    if available:
        for index in range(torch.cuda.device_count()):
            properties = torch.cuda.get_device_properties(index)
            devices.append(CudaDevice(index, properties.name, properties.total_memory / 2**30,
                                      f"{properties.major}.{properties.minor}"))
        arch_list = tuple(torch.cuda.get_arch_list())
        bf16 = bool(torch.cuda.is_bf16_supported())
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    cudnn_text = cudnn_version_text(cudnn) if cudnn else None
    mps = getattr(torch.backends, "mps", None)
    return TorchCuda(
        torch_version=torch.__version__, built_with_cuda=torch.version.cuda,
        built_with_hip=getattr(torch.version, "hip", None), cudnn_version=cudnn_text,
        available=available, devices=tuple(devices), arch_list=arch_list, warning=warning, bf16=bf16,
        mps_available=bool(mps is not None and mps.is_available()), mps_built=bool(mps is not None and mps.is_built()),
        cpu_threads=torch.get_num_threads(),
    )


def cudnn_version_text(number: int) -> str:
    """cuDNN's version number as text: 92400 -> "9.24.0" (cuDNN 9 counts major * 10000), 8902 -> "8.9.2"."""
    major_unit = 10000 if number >= 90000 else 1000
    return f"{number // major_unit}.{number % major_unit // 100}.{number % 100}"


def _version_tuple(text: str | None) -> tuple[int, int] | None:
    match = re.match(r"(\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def wheel_command(driver_cuda: str | None) -> str:
    """The pip line that installs PyTorch built for the newest CUDA this driver runs."""
    driver = _version_tuple(driver_cuda)
    suffix = next((name for name, needs in CUDA_WHEELS if driver is None or driver >= needs), None)
    if suffix is None:
        return f"update the NVIDIA driver (it supports CUDA {driver_cuda}; PyTorch's wheels need 11.8 or newer)"
    return (f"python -m pip install --force-reinstall torch torchvision --index-url {PYTORCH_INDEX}/{suffix}"
            f"  (other versions: {PYTORCH_SELECTOR})")


def unsupported_devices(status: TorchCuda) -> list[CudaDevice]:
    """GPUs whose compute capability has no kernels in this build (PyTorch warns, then fails on the first op)."""
    if not status.arch_list:
        return []
    built = {arch.split("_")[-1] for arch in status.arch_list if arch.startswith(("sm_", "compute_"))}
    newest_ptx = max((int(arch.split("_")[-1]) for arch in status.arch_list if arch.startswith("compute_")),
                     default=None)
    unsupported = []
    for device in status.devices:
        capability = device.compute_capability.replace(".", "")
        runs_as_ptx = newest_ptx is not None and int(capability) >= newest_ptx
        if capability not in built and not runs_as_ptx:
            unsupported.append(device)
    return unsupported


def gpu_problem(system: SystemGpus, status: TorchCuda) -> GpuProblem | None:
    """Why an NVIDIA GPU the system reports is not offered for training; None when it is (or there is none)."""
    bad = unsupported_devices(status) if status.available else []
    if bad:
        names = ", ".join(f"{device.name} (compute capability {device.compute_capability})" for device in bad)
        return GpuProblem(
            f"PyTorch {status.torch_version} has no kernels for {names}; it was built for "
            f"{', '.join(status.arch_list)}", wheel_command(system.driver_cuda),
            "this PyTorch does not support the GPU")
    if not system.names or status.available:
        return None
    gpus = ", ".join(system.names)
    if status.built_with_cuda is None and status.built_with_hip is None:
        return GpuProblem(
            f"the system has an NVIDIA GPU ({gpus}) but PyTorch {status.torch_version} is a CPU-only build "
            "(the wrong wheel for this machine)", wheel_command(system.driver_cuda),
            "PyTorch is a CPU-only build")
    if status.built_with_cuda is not None:
        built, driver = _version_tuple(status.built_with_cuda), _version_tuple(system.driver_cuda)
        if built and driver and driver < built:
            return GpuProblem(
                f"PyTorch {status.torch_version} is built for CUDA {status.built_with_cuda} but the NVIDIA driver "
                f"{system.driver_version or ''} supports CUDA {system.driver_cuda} at most".replace("  ", " "),
                f"update the NVIDIA driver, or {wheel_command(system.driver_cuda)}",
                f"the driver is older than CUDA {status.built_with_cuda}")
    detail = f": {status.warning}" if status.warning else ""
    return GpuProblem(
        f"the system has an NVIDIA GPU ({gpus}) but PyTorch cannot use it{detail}",
        "check that the NVIDIA driver is loaded (nvidia-smi) and that CUDA_VISIBLE_DEVICES does not hide the GPU",
        "PyTorch cannot reach it")
