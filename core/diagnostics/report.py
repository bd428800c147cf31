"""The ``convstudio doctor`` report: what matters about this machine for ConvStudio, as data, text and JSON.

:func:`build_report` gathers versions, the training devices (and why a GPU is
not used), the Qt platform and whether a window can open, the data folder and
its datasets, the runs folder and its free space, and the optional extras.
Findings that stop something a user asked for are *problems* (each with its
fix; ``doctor`` then exits 1); the rest are *notes*. The same report feeds the
app's Help > Diagnostics dialog.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from convstudio.core.diagnostics.gpu import SystemGpus, TorchCuda, gpu_problem, system_nvidia_gpus, torch_cuda_status
from convstudio.core.diagnostics.os_release import read_os_release
from convstudio.core.diagnostics.qt_platform import WindowCheck, check_window
from convstudio.core.paths import RUNS_ENV, app_data_dir, data_dir_source, default_runs_root

# distribution name on PyPI -> what the report calls it
PACKAGES = {"torch": "PyTorch", "torchvision": "torchvision", "PySide6": "PySide6", "pyqtgraph": "pyqtgraph",
            "pydantic": "pydantic", "numpy": "NumPy"}
# optional extra -> (modules it needs, what it enables, how to install it)
EXTRAS = {
    "onnx": (("onnx", "onnxscript"), "ONNX export", "python -m pip install 'convstudio[export]'"),
    "safetensors": (("safetensors",), ".safetensors weights", "python -m pip install 'convstudio[export]'"),
    "tensorboard": (("tensorboard",), "TensorBoard event files", "python -m pip install 'convstudio[tensorboard]'"),
}
# dataset -> its folder in the data folder (torchvision's layout, as core.data.on_disk checks it)
DATASET_FOLDERS = {"cifar10": "cifar-10-batches-py", "mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
GIB = 2**30


@dataclass(frozen=True)
class Finding:
    """Something that does not work as a user would expect, and the fix."""

    topic: str  # "qt", "gpu", "data", "runs", "packages"
    message: str
    fix: str = ""


@dataclass
class DoctorReport:
    """Everything ``doctor`` found; :meth:`as_dict` is the ``--json`` output."""

    versions: dict[str, str | None]
    system: dict[str, Any]
    devices: dict[str, Any]
    qt: dict[str, Any]
    data: dict[str, Any]
    runs: dict[str, Any]
    extras: dict[str, Any]
    problems: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when everything a user asked for can work (``doctor`` exits 0)."""
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: ``ok``, ``problems``, ``notes`` and one object per section."""
        return {"ok": self.ok, "problems": [asdict(item) for item in self.problems],
                "notes": [asdict(item) for item in self.notes], "versions": self.versions, "system": self.system,
                "devices": self.devices, "qt": self.qt, "data": self.data, "runs": self.runs, "extras": self.extras}


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def installed_versions() -> dict[str, str | None]:
    """ConvStudio, Python and each dependency's version (None when not installed), read without importing them."""
    from convstudio.core import __version__

    versions: dict[str, str | None] = {"ConvStudio": __version__, "Python": platform.python_version()}
    versions.update({label: _version(distribution) for distribution, label in PACKAGES.items()})
    return versions


def folder_size(folder: Path) -> int:
    """Bytes in the files under ``folder`` (0 when it is not there)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def data_section(data_dir: str | Path | None) -> dict[str, Any]:
    """The data folder, what chose it, and which downloadable datasets are on disk there with their sizes."""
    from convstudio.core.data.on_disk import dataset_on_disk

    folder, source = data_dir_source(data_dir)
    datasets = [{"name": "shapes", "on_disk": True, "size_bytes": 0, "note": "built in, generated on the machine"}]
    for name, subfolder in DATASET_FOLDERS.items():
        on_disk = dataset_on_disk(name, folder)
        datasets.append({"name": name, "on_disk": on_disk,
                         "size_bytes": folder_size(folder / subfolder) if (folder / subfolder).is_dir() else 0})
    return {"folder": str(folder), "source": source, "exists": folder.is_dir(),
            "is_file": folder.exists() and not folder.is_dir(), "datasets": datasets}


def runs_section(runs_root: str | Path | None) -> dict[str, Any]:
    """The runs folder, whether it exists, how many runs it holds and the free space on its disk."""
    folder = Path(runs_root).expanduser() if runs_root else default_runs_root()
    from_environment = os.environ.get(RUNS_ENV)
    if from_environment and Path(from_environment).expanduser() == folder:
        source = f"${RUNS_ENV}"
    elif folder == app_data_dir() / "runs":
        source = "default"
    else:
        source = "chosen in the app"
    existing = _existing_parent(folder.absolute())
    try:
        free = shutil.disk_usage(existing).free
    except OSError:
        free = None
    runs = sum(1 for _ in folder.glob("*/*/run.json")) if folder.is_dir() else 0
    is_file = folder.exists() and not folder.is_dir()  # no run can be written inside a file
    return {"folder": str(folder), "source": source, "exists": folder.is_dir(), "is_file": is_file, "runs": runs,
            "free_bytes": free, "writable": not is_file and os.access(existing, os.W_OK)}


def extras_section() -> dict[str, Any]:
    """Which optional extras are installed, what each enables and how to install it."""
    return {name: {"installed": all(importlib.util.find_spec(module) is not None for module in modules),
                   "enables": enables, "install": install}
            for name, (modules, enables, install) in EXTRAS.items()}


def _bf16(device: str, cuda: TorchCuda) -> tuple[bool, str]:
    """Whether training on ``device`` gets bf16 autocast (``--precision auto``'s rule), and why."""
    if device == "cuda":
        if cuda.bf16:
            return True, "bf16 autocast works on this GPU"
        return False, "this GPU has no fast bf16, so --precision auto uses fp16 with loss scaling"
    if device == "mps":
        return False, "on Apple MPS --precision auto trains in fp32"
    from convstudio.core.training.fast_defaults import native_bf16_cpu  # reads the CPU's flags once

    if native_bf16_cpu():
        return True, "the CPU has bf16 instructions, so --precision auto trains in bf16 autocast"
    return False, ("the CPU has no bf16 instructions and would convert bf16 in software, slower, "
                   "so --precision auto trains in fp32")


def devices_section(system: SystemGpus, cuda: TorchCuda | None) -> dict[str, Any]:
    """The devices training would use, in the engine's order (CUDA, Apple MPS, CPU), and which one ``auto`` picks."""
    if cuda is None:
        return {"training_device": None, "reason": "PyTorch is not installed", "cuda": None, "mps": None,
                "cpu": {"threads": None, "cores": os.cpu_count()}, "bf16": False, "system_gpus": list(system.names)}
    if cuda.available and cuda.devices:
        first = cuda.devices[0]
        device, reason = "cuda", f"CUDA: {first.name} (the fastest device found)"
    elif cuda.mps_available:
        device, reason = "mps", "Apple MPS (no CUDA GPU found)"
    else:
        device, reason = "cpu", f"CPU with {cuda.cpu_threads} threads (no CUDA GPU or Apple MPS found)"
    bf16, bf16_note = _bf16(device, cuda)
    return {
        "training_device": device, "reason": reason,
        "cuda": {"available": cuda.available, "built_with_cuda": cuda.built_with_cuda,
                 "built_with_hip": cuda.built_with_hip, "cudnn": cuda.cudnn_version,
                 "gpus": [asdict(gpu) for gpu in cuda.devices], "arch_list": list(cuda.arch_list),
                 "warning": cuda.warning},
        "mps": {"available": cuda.mps_available, "built": cuda.mps_built},
        "cpu": {"threads": cuda.cpu_threads, "cores": os.cpu_count()},
        "bf16": bf16, "bf16_note": bf16_note,
        "system_gpus": list(system.names), "driver_version": system.driver_version, "driver_cuda": system.driver_cuda,
    }


def qt_section(check: WindowCheck) -> dict[str, Any]:
    """The Qt platform and whether a window can open, with the libraries that are missing."""
    return {"platform": check.platform, "requested": list(check.requested), "source": check.source,
            "window_can_open": check.can_open, "on_screen": check.on_screen, "display": check.display,
            "problems": list(check.problems), "missing_libraries": [library.name for library in check.missing],
            "xcb_missing_libraries": [library.name for library in check.xcb_missing],
            "install": check.install, "plugin_dir": check.plugin_dir}


def build_report(data_dir: str | Path | None = None, runs_root: str | Path | None = None,
                 window: WindowCheck | None = None, system: SystemGpus | None = None,
                 cuda: TorchCuda | None | bool = True) -> DoctorReport:
    """Check this machine. The keyword arguments stand in for the machine in tests.

    ``data_dir``: a command's ``--data-dir``; ``runs_root``: the app's chosen runs
    folder; ``window``, ``system`` and ``cuda`` replace :func:`check_window`,
    :func:`system_nvidia_gpus` and :func:`torch_cuda_status` (``cuda=True``
    asks PyTorch; None stands for PyTorch not installed).
    """
    versions = installed_versions()
    window = check_window() if window is None else window
    system = system_nvidia_gpus() if system is None else system
    torch_error = None
    if cuda is True:
        try:
            cuda = torch_cuda_status() if versions["PyTorch"] else None
        except Exception as error:  # a broken install (a missing CUDA library, ...): report it, do not crash
            cuda, torch_error = None, f"{type(error).__name__}: {error}"
    release = read_os_release()
    report = DoctorReport(
        versions=versions,
        system={"os": platform.system(), "release": platform.release(), "machine": platform.machine(),
                "distribution": release.pretty_name if release else None,
                "package_manager": release.family if release else None, "executable": sys.executable},
        devices=devices_section(system, cuda), qt=qt_section(window), data=data_section(data_dir),
        runs=runs_section(runs_root), extras=extras_section(),
    )
    if torch_error:
        report.devices["reason"] = "PyTorch fails to import"
        report.problems.append(Finding("packages", f"PyTorch is installed but fails to import: {torch_error}",
                                       "reinstall it: python -m pip install --force-reinstall torch torchvision"))
    _judge(report, window, system, cuda)
    return report


def _judge(report: DoctorReport, window: WindowCheck, system: SystemGpus, cuda: TorchCuda | None) -> None:
    """Sort what was found into problems (exit 1) and notes."""
    problems, notes = report.problems, report.notes
    for label in ("PyTorch", "torchvision", "PySide6", "pyqtgraph"):
        if report.versions[label] is None:
            problems.append(Finding("packages", f"{label} is not installed",
                                    "python -m pip install -e .  (in the ConvStudio folder), or pip install convstudio"))
    if not window.can_open:
        fix = window.install or ""
        if window.no_display:
            # Only the display is absent (a server, an SSH session): the installation is fine.
            notes.append(Finding("qt", "no window can open here: " + "; ".join(window.problems),
                                 "use a desktop session or ssh -X; check, train, export and the lab commands "
                                 "work without a window"))
        else:
            problems.append(Finding("qt", "the app's window cannot open: " + "; ".join(window.problems), fix))
    elif not window.on_screen:
        notes.append(Finding("qt", f"Qt draws off screen ({window.platform}, from {window.source}): windows "
                                   "open but are not shown"))
    if window.xcb_missing:
        names = ", ".join(library.name for library in window.xcb_missing)
        notes.append(Finding("qt", f"an X11 window would need libraries that fail to load: {names}",
                             window.install or ""))
    if cuda is not None:
        problem = gpu_problem(system, cuda)
        if problem is not None:
            problems.append(Finding("gpu", problem.reason, problem.fix))
    data = report.data
    if data["is_file"]:
        problems.append(Finding("data", f"the data folder {data['folder']} (from {data['source']}) is a file, "
                                        "not a folder",
                                "point --data-dir or $CONVSTUDIO_DATA at the folder that holds the datasets"))
    elif data["source"] != "default" and not data["exists"]:
        problems.append(Finding("data", f"the data folder {data['folder']} (from {data['source']}) does not exist",
                                "create it, or point --data-dir or $CONVSTUDIO_DATA at the folder that holds "
                                "the datasets"))
    runs = report.runs
    if not runs["writable"]:
        problems.append(Finding("runs", f"the runs folder {runs['folder']} "
                                        + ("is a file, not a folder" if runs["is_file"] else "cannot be written"),
                                "set $CONVSTUDIO_RUNS to a folder you can write, or choose one in the app"))
    elif runs["free_bytes"] is not None and runs["free_bytes"] < GIB:
        notes.append(Finding("runs", f"only {runs['free_bytes'] / GIB:.2f} GiB free for runs in {runs['folder']}",
                             "free some space or set $CONVSTUDIO_RUNS to another disk"))
