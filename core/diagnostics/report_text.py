"""The ``convstudio doctor`` report as text for a terminal, a bug report or the app's Diagnostics dialog."""

from __future__ import annotations

from typing import Any

from convstudio.core.diagnostics.report import DoctorReport

GIB = 2**30


def _source(source: str) -> str:
    return "the per-user default" if source == "default" else source


def _size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return "unknown"
    if size_bytes >= GIB:
        return f"{size_bytes / GIB:.1f} GiB"
    return f"{size_bytes / 2**20:.0f} MiB"


def _versions(report: DoctorReport) -> list[str]:
    versions, system = report.versions, report.system
    cuda = report.devices.get("cuda") or {}
    torch = versions["PyTorch"] or "not installed"
    if versions["PyTorch"]:
        built = (f"CUDA {cuda['built_with_cuda']}" if cuda.get("built_with_cuda") else
                 f"ROCm {cuda['built_with_hip']}" if cuda.get("built_with_hip") else "CPU only")
        torch += f" (built with {built}" + (f", cuDNN {cuda['cudnn']})" if cuda.get("cudnn") else ")")
    where = system["distribution"] or f"{system['os']} {system['release']}"
    listed = ", ".join(f"{name} {version or 'not installed'}" for name, version in versions.items()
                       if name not in ("ConvStudio", "Python", "PyTorch"))
    return [f"ConvStudio {versions['ConvStudio']}, Python {versions['Python']} ({system['executable']})",
            f"{where}, {system['machine']}", f"PyTorch {torch}", listed]


def _devices(devices: dict[str, Any]) -> list[str]:
    lines = [f"auto trains on: {devices['reason']}"]
    cuda = devices.get("cuda")
    if cuda is None:
        return lines
    if cuda["gpus"]:
        for gpu in cuda["gpus"]:
            lines.append(f"CUDA {gpu['index']}: {gpu['name']}, {gpu['memory_gib']:.1f} GiB, compute capability "
                         f"{gpu['compute_capability']}")
    elif devices["system_gpus"]:
        lines.append(f"CUDA: not usable; the system has {', '.join(devices['system_gpus'])} (see problems)")
    else:
        lines.append("CUDA: no NVIDIA GPU found" + (f" ({cuda['warning']})" if cuda.get("warning") else ""))
    if devices.get("driver_version"):
        lines.append(f"NVIDIA driver {devices['driver_version']}, supports CUDA {devices['driver_cuda'] or '?'}")
    lines.append("Apple MPS: " + ("available" if devices["mps"]["available"] else "not available"))
    lines.append(f"CPU: {devices['cpu']['threads']} threads on {devices['cpu']['cores']} cores")
    lines.append(f"bf16: {'yes' if devices['bf16'] else 'no'} ({devices['bf16_note']})")
    return lines


def _qt(qt: dict[str, Any]) -> list[str]:
    display = qt["display"] or "none"
    source = "Qt's default" if qt["source"] == "default" else qt["source"]
    lines = [f"platform: {qt['platform']} (from {source}), display: {display}"]
    if qt["window_can_open"]:
        lines.append("a window can open" + ("" if qt["on_screen"] else ", off screen"))
    else:
        lines.append("a window cannot open:")
        lines += [f"  - {problem}" for problem in qt["problems"]]
    return lines


def _data(data: dict[str, Any]) -> list[str]:
    state = "" if data["exists"] else ", a file, not a folder" if data.get("is_file") else ", not created yet"
    lines = [f"{data['folder']} (from {_source(data['source'])}{state})"]
    for dataset in data["datasets"]:
        if dataset["name"] == "shapes":
            state = "built in"
        else:
            state = f"on disk, {_size(dataset['size_bytes'])}" if dataset["on_disk"] else "not on disk"
        lines.append(f"  {dataset['name']:<14}{state}")
    return lines


def _runs(runs: dict[str, Any]) -> list[str]:
    state = (f"{runs['runs']} runs" if runs["exists"] else "a file, not a folder" if runs.get("is_file")
             else "not created yet")
    return [f"{runs['folder']} (from {_source(runs['source'])}): {state}, {_size(runs['free_bytes'])} free"]


def _extras(extras: dict[str, Any]) -> list[str]:
    return [f"{extra['enables']}: " + ("installed" if extra["installed"] else f"not installed ({extra['install']})")
            for extra in extras.values()]


def report_text(report: DoctorReport) -> str:
    """The whole report, a section per topic, problems (with their fixes) and notes last."""
    sections = [("ConvStudio doctor", _versions(report)), ("Training devices", _devices(report.devices)),
                ("Window (Qt)", _qt(report.qt)), ("Data folder", _data(report.data)),
                ("Runs folder", _runs(report.runs)), ("Optional extras", _extras(report.extras))]
    lines: list[str] = []
    for title, body in sections:
        lines += [title, *(f"  {line}" for line in body), ""]
    for title, findings in (("Problems", report.problems), ("Notes", report.notes)):
        if findings:
            lines.append(f"{title}:")
            for finding in findings:
                lines.append(f"  - {finding.message}")
                if finding.fix:
                    lines.append(f"    fix: {finding.fix}")
            lines.append("")
    lines.append("Everything ConvStudio needs works here." if report.ok else
                 f"{len(report.problems)} problem{'s' if len(report.problems) > 1 else ''} found: see the fixes above.")
    return "\n".join(lines)
