"""Choosing the training device: CUDA, then Apple MPS, then CPU, with the reason.

When the system has an NVIDIA GPU that PyTorch cannot use (a CPU-only wheel, a
driver older than the wheel's CUDA), :func:`gpu_not_offered` says why and how
to fix it, for the app's device list and for ``--device cuda``'s refusal.
"""

from __future__ import annotations

import torch

from convstudio.core.diagnostics.gpu import GpuProblem, gpu_problem, system_nvidia_gpus, torch_cuda_status


def available_devices() -> list[tuple[str, str]]:
    """(device, description) for each device found, e.g. ("cuda", "CUDA: NVIDIA H100")."""
    found = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            found.append((f"cuda:{index}" if index else "cuda", f"CUDA: {torch.cuda.get_device_name(index)}"))
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append(("mps", "Apple MPS"))
    found.append(("cpu", f"CPU ({torch.get_num_threads()} threads)"))
    return found


def gpu_not_offered() -> GpuProblem | None:
    """Why an NVIDIA GPU the system reports is not offered for training, with the fix; None when it is or there is none."""
    return gpu_problem(system_nvidia_gpus(), torch_cuda_status())


def choose_device(preference: str = "auto") -> tuple[torch.device, str]:
    """The device to train on and a sentence saying why.

    Raises ValueError when a device is asked for that is not present.
    """
    found = dict(available_devices())
    if preference == "auto":
        name = next(iter(found))
        return torch.device(name), f"{found[name]} (auto: the fastest device found)"
    matches = [name for name in found if name.split(":")[0] == preference]
    if not matches:
        present = ", ".join(found.values())
        problem = gpu_not_offered() if preference == "cuda" else None
        why = f" ({problem.reason}; fix: {problem.fix})" if problem else ""
        raise ValueError(f"device {preference!r} was asked for but is not present{why}; found: {present}")
    return torch.device(matches[0]), f"{found[matches[0]]} (chosen in the settings)"
