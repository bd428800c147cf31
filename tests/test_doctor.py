"""``convstudio doctor``, the GPU diagnosis and ``--data-dir``.

The machine is simulated where the branch needs it (an NVIDIA GPU the system
reports, PyTorch with CUDA present or absent, through monkeypatching); the real
check also runs on this machine, and its JSON keys are checked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from convstudio.core.cli.main import build_parser, main
from convstudio.core.data.on_disk import REQUIRED_FILES
from convstudio.core.diagnostics import gpu
from convstudio.core.diagnostics.gpu import (CudaDevice, SystemGpus, TorchCuda, cudnn_version_text, gpu_problem,
                                             system_nvidia_gpus, torch_cuda_status, wheel_command)
from convstudio.core.diagnostics.qt_platform import WindowCheck
from convstudio.core.diagnostics.report import build_report
from convstudio.core.diagnostics.report_text import report_text
from convstudio.core.paths import DATA_ENV, data_dir_override, data_dir_source, default_data_dir

REPORT_KEYS = {"ok", "problems", "notes", "versions", "system", "devices", "qt", "data", "runs", "extras"}
SECTION_KEYS = {
    "versions": {"ConvStudio", "Python", "PyTorch", "torchvision", "PySide6", "pyqtgraph"},
    "devices": {"training_device", "reason", "cuda", "mps", "cpu", "bf16", "system_gpus"},
    "qt": {"platform", "window_can_open", "display", "missing_libraries", "install", "problems"},
    "data": {"folder", "source", "exists", "datasets"},
    "runs": {"folder", "exists", "runs", "free_bytes"},
    "extras": {"onnx", "tensorboard"},
}
RTX = SystemGpus(("NVIDIA GeForce RTX 4090",), "550.54", "12.4")
WINDOW_OK = WindowCheck("xcb", ("xcb",), "default", True, True, ":0")


def torch_status(**changes) -> TorchCuda:
    fields = dict(torch_version="2.5.0+cpu", built_with_cuda=None, built_with_hip=None, cudnn_version=None,
                  available=False, cpu_threads=4)
    return TorchCuda(**{**fields, **changes})


H100 = CudaDevice(0, "NVIDIA H100", 79.6, "9.0")


@pytest.fixture(autouse=True)
def isolated_folders(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("CONVSTUDIO_RUNS", str(tmp_path / "runs"))


# -- the GPU diagnosis --------------------------------------------------------------------------------

def test_a_cpu_only_wheel_on_a_machine_with_an_nvidia_gpu_names_the_right_wheel():
    problem = gpu_problem(RTX, torch_status())
    assert "CPU-only build" in problem.reason and "RTX 4090" in problem.reason
    assert "--index-url https://download.pytorch.org/whl/cu124" in problem.fix
    assert problem.short == "PyTorch is a CPU-only build"


def test_a_driver_older_than_the_wheels_cuda_says_so():
    problem = gpu_problem(RTX, torch_status(torch_version="2.9.0+cu128", built_with_cuda="12.8"))
    assert "built for CUDA 12.8" in problem.reason and "supports CUDA 12.4 at most" in problem.reason
    assert problem.fix.startswith("update the NVIDIA driver, or python -m pip install")


def test_cuda_that_cannot_start_passes_on_what_pytorch_warned():
    status = torch_status(built_with_cuda="12.4", warning="CUDA initialization: no CUDA-capable device is detected")
    problem = gpu_problem(SystemGpus(("Tesla T4",), None, None), status)
    assert "no CUDA-capable device is detected" in problem.reason and "CUDA_VISIBLE_DEVICES" in problem.fix


def test_a_gpu_without_kernels_in_the_build_is_named():
    status = torch_status(built_with_cuda="12.8", available=True, devices=(CudaDevice(0, "Tesla K80", 11.2, "3.7"),),
                          arch_list=("sm_50", "sm_80", "sm_90"))
    problem = gpu_problem(SystemGpus(("Tesla K80",), None, "12.8"), status)
    assert "no kernels for Tesla K80 (compute capability 3.7)" in problem.reason


def test_no_problem_without_an_nvidia_gpu_or_with_a_working_one():
    assert gpu_problem(SystemGpus(), torch_status()) is None
    working = torch_status(built_with_cuda="12.4", available=True, devices=(H100,), arch_list=("sm_80", "sm_90"))
    assert gpu_problem(SystemGpus(("NVIDIA H100",), None, "12.4"), working) is None


@pytest.mark.parametrize("driver, suffix", [("13.1", "cu130"), ("12.8", "cu128"), ("12.6", "cu126"),
                                            ("12.2", "cu121"), ("11.8", "cu118"), (None, "cu130")])
def test_the_wheel_follows_the_drivers_cuda(driver, suffix):
    assert wheel_command(driver).split()[-4].endswith(f"/whl/{suffix}")


def test_an_old_driver_is_told_to_update():
    assert wheel_command("11.4").startswith("update the NVIDIA driver")


def test_cudnn_versions_read_as_people_write_them():
    assert cudnn_version_text(92400) == "9.24.0"
    assert cudnn_version_text(8902) == "8.9.2"


def test_the_system_gpus_are_read_from_the_drivers_proc_files(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu.shutil, "which", lambda name: None)  # no nvidia-smi
    assert system_nvidia_gpus(tmp_path) == SystemGpus()
    card = tmp_path / "gpus" / "0000:01:00.0"
    card.mkdir(parents=True)
    (card / "information").write_text("Model: \t\t NVIDIA GeForce RTX 3090\nIRQ: 130\n")
    (tmp_path / "version").write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22\n")
    assert system_nvidia_gpus(tmp_path) == SystemGpus(("NVIDIA GeForce RTX 3090",), "550.54.14", None)


def test_torch_cuda_status_with_cuda_present(monkeypatch):
    properties = SimpleNamespace(name="NVIDIA H100", total_memory=80 * 2**30, major=9, minor=0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: properties)
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_80", "sm_90"])
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    status = torch_cuda_status()
    assert status.available and status.bf16
    assert status.devices == (CudaDevice(0, "NVIDIA H100", 80.0, "9.0"),)


def test_torch_cuda_status_with_cuda_absent_keeps_what_torch_warned(monkeypatch):
    def unavailable():
        import warnings
        warnings.warn("CUDA initialization: The NVIDIA driver on your system is too old (found version 11040)")
        return False
    monkeypatch.setattr(torch.cuda, "is_available", unavailable)
    status = torch_cuda_status()
    assert not status.available and status.devices == () and not status.bf16
    assert "driver on your system is too old" in status.warning


def test_asking_for_cuda_that_is_not_usable_says_why(monkeypatch):
    from convstudio.core.training import devices

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "gpu_not_offered", lambda: gpu_problem(RTX, torch_status()))
    with pytest.raises(ValueError, match="CPU-only build.*fix: python -m pip install"):
        devices.choose_device("cuda")


# -- the report ---------------------------------------------------------------------------------------

def test_a_report_with_cuda_present_trains_on_the_gpu_and_is_ok(tmp_path):
    status = torch_status(built_with_cuda="12.4", cudnn_version="9.1.0", available=True, devices=(H100,),
                          arch_list=("sm_90",), bf16=True)
    report = build_report(data_dir=tmp_path, window=WINDOW_OK, system=SystemGpus(("NVIDIA H100",), "550", "12.4"),
                          cuda=status)
    assert report.ok, report.problems
    assert report.devices["training_device"] == "cuda" and report.devices["bf16"] is True
    text = report_text(report)
    assert "CUDA 0: NVIDIA H100, 79.6 GiB, compute capability 9.0" in text
    assert "PyTorch" in text and "built with CUDA 12.4, cuDNN 9.1.0" in text


@pytest.mark.parametrize("native_bf16", [True, False])
def test_bf16_on_a_cpu_follows_the_cpus_instructions(tmp_path, monkeypatch, native_bf16):
    # --precision auto trains a CPU run in bf16 autocast where the CPU has bf16 instructions
    # (core/training/fast_defaults.py); the report once said bf16 needs a CUDA GPU.
    from convstudio.core.training import fast_defaults

    monkeypatch.setattr(fast_defaults, "native_bf16_cpu", lambda: native_bf16)
    report = build_report(data_dir=tmp_path, window=WINDOW_OK, system=SystemGpus((), None, None),
                          cuda=torch_status())
    assert report.devices["training_device"] == "cpu" and report.devices["bf16"] is native_bf16
    assert ("trains in bf16 autocast" if native_bf16 else "trains in fp32") in report_text(report)


def test_a_report_with_an_unusable_gpu_is_a_problem_with_the_fix(tmp_path):
    report = build_report(data_dir=tmp_path, window=WINDOW_OK, system=RTX, cuda=torch_status())
    assert not report.ok
    assert [finding.topic for finding in report.problems] == ["gpu"]
    assert report.devices["training_device"] == "cpu"
    assert "fix: python -m pip install --force-reinstall torch torchvision" in report_text(report)


def test_no_display_is_a_note_but_missing_libraries_are_a_problem(tmp_path):
    no_display = WindowCheck("xcb", ("xcb",), "default", False, False, None, ("no display: DISPLAY is not set",),
                             no_display=True)
    report = build_report(data_dir=tmp_path, window=no_display, system=SystemGpus(), cuda=torch_status())
    assert report.ok and report.notes[0].topic == "qt"
    broken = WindowCheck("xcb", ("xcb",), "default", False, False, ":0", ("libraries fail to load",),
                         install="sudo apt install libxcb-cursor0")
    report = build_report(data_dir=tmp_path, window=broken, system=SystemGpus(), cuda=torch_status())
    assert not report.ok and report.problems[0].fix == "sudo apt install libxcb-cursor0"


def test_the_data_section_lists_datasets_on_disk_with_their_sizes(tmp_path):
    for relative in REQUIRED_FILES["mnist"]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"x" * 1000)
    report = build_report(data_dir=tmp_path, window=WINDOW_OK, system=SystemGpus(), cuda=torch_status())
    datasets = {entry["name"]: entry for entry in report.data["datasets"]}
    assert report.data["source"] == "--data-dir" and report.data["folder"] == str(tmp_path)
    assert datasets["mnist"]["on_disk"] and datasets["mnist"]["size_bytes"] == 4000
    assert not datasets["cifar10"]["on_disk"]


def test_a_named_data_folder_that_does_not_exist_is_a_problem(tmp_path):
    report = build_report(data_dir=tmp_path / "typo", window=WINDOW_OK, system=SystemGpus(), cuda=torch_status())
    assert [finding.topic for finding in report.problems] == ["data"]


def test_a_data_or_runs_folder_that_is_a_file_is_a_problem_that_says_so(tmp_path):
    # Once reported as "not created yet" with the fix "create it", which a file prevents.
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder", encoding="utf-8")
    report = build_report(data_dir=a_file, runs_root=a_file, window=WINDOW_OK, system=SystemGpus(),
                          cuda=torch_status())
    assert [finding.topic for finding in report.problems] == ["data", "runs"]
    assert all("is a file, not a folder" in finding.message for finding in report.problems)
    assert report_text(report).count("a file, not a folder") == 4  # each section and each problem


def test_the_data_folder_precedence(tmp_path, monkeypatch):
    assert data_dir_source(None) == (default_data_dir(), "default")
    with data_dir_override(tmp_path / "option"):
        assert default_data_dir() == tmp_path / "option"
    assert DATA_ENV not in os.environ  # put back as it was: unset
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "env"))
    assert data_dir_source(None) == (tmp_path / "env", "$CONVSTUDIO_DATA")
    assert data_dir_source(tmp_path / "option") == (tmp_path / "option", "--data-dir")


def test_doctor_on_this_machine(capsys, tmp_path):
    """The real check: every key is there, and the devices agree with what torch says here."""
    status = main(["doctor", "--json", "--data-dir", str(tmp_path)])
    report = json.loads(capsys.readouterr().out)
    assert set(report) == REPORT_KEYS
    for section, keys in SECTION_KEYS.items():
        assert keys <= set(report[section]), section
    assert status == (0 if report["ok"] else 1) and report["ok"] == (report["problems"] == [])
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert report["devices"]["training_device"] == expected
    assert report["devices"]["cpu"]["threads"] == torch.get_num_threads()
    assert report["data"] == {**report["data"], "folder": str(tmp_path), "source": "--data-dir", "exists": True}
    assert report["runs"]["folder"] == os.environ["CONVSTUDIO_RUNS"]
    assert report["versions"]["PyTorch"] == torch.__version__.split("+")[0]
    json.dumps(report, allow_nan=False)  # standard JSON

    status = main(["doctor"])
    text = capsys.readouterr().out
    for title in ("ConvStudio doctor", "Training devices", "Window (Qt)", "Data folder", "Runs folder",
                  "Optional extras"):
        assert title in text
    assert status in (0, 1)


# -- --data-dir on every command that reads a dataset ------------------------------------------------

@pytest.mark.parametrize("command", [["train", "d.json"], ["signal", "d.json"], ["dropout-lab", "run"],
                                     ["ensemble", "d.json", "--out", "o"], ["remedies", "d.json", "--out", "o"],
                                     ["doctor"]])
def test_every_command_that_reads_a_dataset_takes_data_dir(command):
    assert build_parser().parse_args([*command, "--data-dir", "/data"]).data_dir == "/data"


def test_data_dir_is_searched_and_named_and_the_environment_comes_back(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "from-env"))
    preset = Path(__file__).parents[1] / "presets" / "cifar10.json"
    status = main(["signal", str(preset), "--dataset", "cifar10", "--data-dir", str(tmp_path / "mine")])
    error = capsys.readouterr().err
    assert status == 2
    assert f"CIFAR10 is not in {tmp_path / 'mine'}" in error
    assert os.environ[DATA_ENV] == str(tmp_path / "from-env")


def test_train_names_the_folder_it_searched_and_offers_data_dir(tmp_path, capsys):
    preset = Path(__file__).parents[1] / "presets" / "cifar10.json"
    status = main(["train", str(preset), "--dataset", "cifar10", "--epochs", "1", "--data-dir", str(tmp_path),
                   "--out", str(tmp_path / "run")])
    error = capsys.readouterr().err
    assert status == 2
    assert str(tmp_path) in error and "--data-dir DIR" in error
