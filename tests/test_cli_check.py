"""``convstudio check`` as users run it: a separate process, its output and exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CIFAR10 = ROOT / "presets" / "cifar10.json"
CIFAR10_CHAIN = (
    "3x32x32 -> 64x33x33 -> 64x34x34 -> 64x17x17 -> 64x18x18 -> 64x19x19 -> 64x9x9 -> 64x10x10 "
    "-> 64x8x8 -> 64x6x6 -> 64x4x4 -> 1024 -> 500 -> 500 -> 10"
)
INPUT = {"channels": 3, "height": 8, "width": 8}


def run_check(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "convstudio", "check", *map(str, args)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    def write(name: str, content: str) -> Path:
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        return path

    return {
        "valid": write("valid.json", json.dumps({"schema_version": 1, "input": INPUT, "layers": [
            {"kind": "conv2d", "out_channels": 4, "kernel_size": 3},
            {"kind": "flatten"},
            {"kind": "linear", "out_features": 2, "activation": "none"},
        ]})),
        "invalid": write("invalid.json", json.dumps({"schema_version": 1, "input": INPUT, "layers": [
            {"kind": "conv2d", "out_channels": 4, "kernel_size": 3},
            {"kind": "conv2d", "out_channels": 4, "kernel_size": 9},
            {"kind": "flatten"},
            {"kind": "linear", "out_features": 2},
            {"kind": "linear", "out_features": 2},
        ]})),
        "truncated": write("truncated.json", '{"schema_version": 1, "input": {"channels": 3, "height": 8'),
        "unknown_kind": write("unknown_kind.json", json.dumps({"schema_version": 1, "input": INPUT, "layers": [
            {"kind": "flatten"}, {"kind": "conv2x", "out_channels": 2, "kernel_size": 1}]})),
        "newer": write("newer.json", json.dumps({"schema_version": 99, "input": INPUT, "layers": []})),
        "misspelled": write("misspelled.json", json.dumps({"schema_version": 1, "input": INPUT, "layers": [
            {"kind": "conv2d", "out_channels": 4, "kernal_size": 3}]})),
        "missing": tmp_path / "missing.json",
    }


def test_cifar10_prints_the_chain_and_parameter_count():
    result = run_check(CIFAR10)
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    out = result.stdout
    assert f"chain: {CIFAR10_CHAIN}" in out
    assert "1,144,970" in out
    assert "valid" in out.splitlines()[0]
    assert "floor((32 - 4 + 2*2) / 1) + 1 = 33" in out
    assert "floor((34 - 2) / 2) + 1 = 17" in out
    assert "note, layer 8 (maxpool2d)" in out  # 19 -> 9 drops a row and a column
    for name in ("conv1", "bn1", "maxpool1", "flatten1", "fc1", "softmax1"):
        assert name in out


def test_invalid_design_prints_errors_with_fixes_and_exits_1(files):
    result = run_check(files["invalid"])
    assert result.returncode == 1
    assert_no_traceback(result)
    assert "INVALID" in result.stdout
    assert "ERROR, layer 2 (conv2d): kernel 9 is larger than the padded input height 6" in result.stdout
    assert "Fix: kernel at most 6" in result.stdout


def test_json_lines_in_the_order_given(files):
    result = run_check("--json", files["valid"], files["invalid"], files["truncated"], CIFAR10)
    assert_no_traceback(result)
    assert result.returncode == 2  # a file that is not a design wins over an impossible design
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    objects = [json.loads(line) for line in lines]
    assert [obj["file"] for obj in objects] == [str(files["valid"]), str(files["invalid"]),
                                                str(files["truncated"]), str(CIFAR10)]
    for obj in objects:
        assert set(obj) == {"file", "valid", "error", "total_params", "layers", "classifier_problem"}
        assert isinstance(obj["valid"], bool)
        assert obj["error"] is None or isinstance(obj["error"], str)
        assert isinstance(obj["total_params"], int)
        for layer in obj["layers"]:
            assert set(layer) == {"index", "kind", "output_shape", "params", "error", "receptive_field"}
            assert layer["receptive_field"] is None or all(isinstance(size, int) for size in layer["receptive_field"])
            assert isinstance(layer["index"], int) and isinstance(layer["kind"], str)
            assert layer["output_shape"] is None or all(isinstance(size, int) for size in layer["output_shape"])
            assert isinstance(layer["params"], int)
            assert layer["error"] is None or isinstance(layer["error"], str)

    valid, invalid, truncated, cifar = objects
    assert valid["valid"] is True and valid["error"] is None
    assert [layer["index"] for layer in valid["layers"]] == [1, 2, 3]
    assert [layer["kind"] for layer in valid["layers"]] == ["conv2d", "flatten", "linear"]
    assert [layer["output_shape"] for layer in valid["layers"]] == [[4, 6, 6], [144], [2]]
    assert [layer["params"] for layer in valid["layers"]] == [112, 0, 290]
    assert valid["total_params"] == 402

    assert invalid["valid"] is False
    assert invalid["error"].startswith("layer 2 (conv2d): kernel 9 is larger")
    assert [layer["error"] is not None for layer in invalid["layers"]] == [False, True, False, False, False]
    # Unknown shapes are null, never a list with holes; later known shapes are still given.
    assert [layer["output_shape"] for layer in invalid["layers"]] == [[4, 6, 6], None, None, [2], [2]]
    assert invalid["layers"][4]["params"] == 6

    assert truncated == {"file": str(files["truncated"]), "valid": False, "error": truncated["error"],
                         "total_params": 0, "layers": [], "classifier_problem": None}
    assert str(files["truncated"]) in truncated["error"] and "not valid JSON" in truncated["error"]

    assert cifar["valid"] is True and cifar["total_params"] == 1_144_970
    assert cifar["layers"][0]["output_shape"] == [64, 33, 33]
    assert len(cifar["layers"]) == 24


@pytest.mark.parametrize(("names", "status"), [
    (["valid"], 0),
    (["valid", "valid"], 0),
    (["invalid"], 1),
    (["valid", "invalid"], 1),
    (["truncated"], 2),
    (["invalid", "missing"], 2),
    (["missing", "invalid"], 2),
    (["valid", "invalid", "newer", "valid"], 2),
])
@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_exit_status(files, names, status, as_json):
    result = run_check(*(["--json"] if as_json else []), *(files[name] for name in names))
    assert result.returncode == status, result.stdout + result.stderr
    assert_no_traceback(result)
    if as_json:
        assert len(result.stdout.splitlines()) == len(names)


@pytest.mark.parametrize(("name", "fragments"), [
    ("truncated", ["truncated.json: not valid JSON at line 1"]),
    ("unknown_kind", ["unknown_kind.json: layer 2 (conv2x): unknown kind 'conv2x'; did you mean 'conv2d'?"]),
    ("newer", ["newer.json: written by a newer ConvStudio (schema_version 99"]),
    ("misspelled", ["misspelled.json: layer 1 (conv2d): kernal_size is not a known field; "
                    "did you mean 'kernel_size'?"]),
    ("missing", ["missing.json: no such file"]),
])
def test_bad_files_get_a_message_not_a_traceback(files, name, fragments):
    result = run_check(files[name])
    assert result.returncode == 2
    assert_no_traceback(result)
    for fragment in fragments:
        assert fragment in result.stderr
    assert str(files[name]) in result.stderr


def test_a_folder_and_binary_bytes(tmp_path: Path):
    binary = tmp_path / "image.json"
    binary.write_bytes(bytes(range(256)))
    result = run_check(tmp_path, binary)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert f"{tmp_path}: is a folder" in result.stderr
    assert f"{binary}: not a text file" in result.stderr


def test_no_design_given_is_a_usage_error():
    result = run_check()
    assert result.returncode == 2
    assert "usage" in result.stderr.lower()


def test_check_does_not_load_qt():
    code = (
        "import sys; from convstudio.core.cli import main;"
        f"status = main(['check', {str(CIFAR10)!r}]);"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph')"
        " or m.startswith('convstudio.gui')];"
        "assert not loaded, loaded; sys.exit(status)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr


def test_python_m_convstudio_check_does_not_load_torch():
    # ``python -m convstudio check`` run in this child: shapes need no torch, and every other
    # command's parser is built without it (torch loads in the handlers that train or export).
    code = (
        "import runpy, sys;"
        f"sys.argv = ['convstudio', 'check', {str(CIFAR10)!r}];"
        "status = None\n"
        "try: runpy.run_module('convstudio', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as exit: status = exit.code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision'));"
        "assert not loaded, loaded[:5]; sys.exit(status)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout



def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    """``convstudio check BIG.json | head -1``: the closed pipe ends the command quietly."""
    layers = [{"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}] * 3000
    design = tmp_path / "big.json"
    design.write_text(json.dumps({"input": {"channels": 3, "height": 8, "width": 8}, "layers": layers}))
    process = subprocess.Popen([sys.executable, "-m", "convstudio", "check", str(design)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.readline()
    process.stdout.close()  # as `head -1` does after its line; the table is far larger than a pipe holds
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 1
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr
