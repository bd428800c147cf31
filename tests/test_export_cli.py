"""``convstudio export``: run folders give trained weights, design files untrained models; clear exit codes."""

import importlib.util
import sys

import pytest
import torch

from convstudio.core.builder import build_model
from convstudio.core.cli import build_parser, main
from convstudio.core.cli.export import EXIT_BAD_INPUT, EXIT_EXPORT_FAILED, EXIT_OK
from convstudio.core.design import save_design
from convstudio.core.presets import load_preset
from model_helpers import perturbed_model

pytestmark = pytest.mark.filterwarnings("ignore:.*is deprecated.*:FutureWarning")


def export(*argv):
    """Run ``convstudio export ARGV`` through the real command line (``convstudio.core.cli.main``)."""
    return main(["export", *argv])


def perturbed_state(design, seed):
    """The weights of a perturbed model (see model_helpers)."""
    return perturbed_model(design, seed).state_dict()


@pytest.fixture
def run_dir(tmp_path):
    """A finished run's folder: its design, the best weights (epoch 2) and the last (epoch 3)."""
    from convstudio.core.training.run_folder import save_checkpoint

    design = load_preset("shapes_small")
    run = tmp_path / "run"
    save_design(design, run / "design.json")
    save_checkpoint(run / "best.pt", {"model": perturbed_state(design, 1), "epoch": 2})
    save_checkpoint(run / "checkpoint.pt", {"model": perturbed_state(design, 2), "epoch": 3, "step": 30})
    return run


def model_with(state):
    model = build_model(load_preset("shapes_small"))
    model.load_state_dict(state)
    return model.eval()


def images():
    return torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_run_folder_to_pytorch_source_carries_the_best_weights(run_dir, tmp_path, capsys):
    assert export(str(run_dir), "--out", str(tmp_path / "net.py")) == EXIT_OK
    out, err = capsys.readouterr()
    assert f"with the weights of {run_dir / 'best.pt'} after epoch 2" in err
    assert str(tmp_path / "net.py") in out and str(tmp_path / "net.pt") in out
    spec = importlib.util.spec_from_file_location("cli_exported", tmp_path / "net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    best = model_with(torch.load(run_dir / "best.pt")["model"])
    torch.testing.assert_close(module.load(tmp_path / "net.pt")(images()), best(images()), rtol=0, atol=0)


def test_weights_last_exports_the_last_checkpoint(run_dir, tmp_path, capsys):
    assert export(str(run_dir), "--weights", "last", "--out", str(tmp_path / "m.pt2")) == EXIT_OK
    assert "after epoch 3" in capsys.readouterr().err
    program = torch.export.load(tmp_path / "m.pt2").module()
    last = model_with(torch.load(run_dir / "checkpoint.pt")["model"])
    torch.testing.assert_close(program(images()), last(images()), rtol=1e-5, atol=1e-6)


def test_run_without_weights_is_bad_input(run_dir, tmp_path, capsys):
    (run_dir / "best.pt").unlink()
    (run_dir / "checkpoint.pt").unlink()
    assert export(str(run_dir), "--format", "torchscript", "--out", str(tmp_path / "m.pt")) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("convstudio export: ") and "no trained weights" in err and "Traceback" not in err
    assert not (tmp_path / "m.pt").exists()


def test_design_file_exports_an_untrained_model_and_says_so(tmp_path, capsys):
    design = load_preset("lenet")
    save_design(design, tmp_path / "lenet.json")
    assert export(str(tmp_path / "lenet.json"), "--format", "torchscript", "--out", str(tmp_path / "m.pt")) == EXIT_OK
    out, err = capsys.readouterr()
    assert "untrained" in err and out.startswith(f"wrote {tmp_path / 'm.pt'}: TorchScript module")
    assert torch.jit.load(tmp_path / "m.pt")(torch.randn(5, 1, 28, 28)).shape == (5, 10)


def test_summary_prints_to_stdout_without_out(tmp_path, capsys):
    save_design(load_preset("lenet"), tmp_path / "lenet.json")
    assert export(str(tmp_path / "lenet.json"), "--format", "markdown") == EXIT_OK
    assert capsys.readouterr().out.startswith("# LeNet-5 (28x28 grey)\n")
    assert export(str(tmp_path / "lenet.json"), "--out", str(tmp_path / "summary.txt")) == EXIT_OK
    assert (tmp_path / "summary.txt").read_text(encoding="utf-8").startswith("LeNet-5 (28x28 grey)\n")


@pytest.mark.parametrize("argv, message", [
    (["{design}", "--format", "onnx"], "--format onnx writes a file: give --out PATH"),
    (["{design}", "--out", "{tmp}/model.bin"], "give --format"),
    (["{design}", "--weights", "best", "--out", "{tmp}/m.py"], "--weights best needs a run folder"),
    (["{tmp}/absent.json", "--out", "{tmp}/m.py"], "absent.json: no such file"),
    (["{tmp}", "--out", "{tmp}/m.py"], "not a ConvStudio run folder"),
    (["{broken}", "--out", "{tmp}/m.py"], "the design cannot be built: layer 1 (conv2d)"),
])
def test_bad_input_exits_2_with_a_message(argv, message, tmp_path, capsys):
    design = load_preset("lenet")
    save_design(design, tmp_path / "lenet.json")
    design.layers[0].kernel_size = 60
    save_design(design, tmp_path / "broken.json")
    names = {"design": tmp_path / "lenet.json", "broken": tmp_path / "broken.json", "tmp": tmp_path}
    assert export(*(arg.format(**names) for arg in argv)) == EXIT_BAD_INPUT
    out, err = capsys.readouterr()
    assert message in err and "Traceback" not in err and out == ""


def test_missing_onnx_packages_exit_1(tmp_path, capsys, monkeypatch):
    save_design(load_preset("lenet"), tmp_path / "lenet.json")
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert export(str(tmp_path / "lenet.json"), "--out", str(tmp_path / "m.onnx")) == EXIT_EXPORT_FAILED
    assert "ONNX export needs the 'onnx' and 'onnxscript' packages" in capsys.readouterr().err


def test_convstudio_parser_registers_export(tmp_path, capsys):
    args = build_parser().parse_args(["export", "x.json", "--format", "summary"])
    assert args.command == "export" and args.format == "summary"
    save_design(load_preset("lenet"), tmp_path / "lenet.json")
    assert main(["export", str(tmp_path / "lenet.json"), "--format", "summary"]) == EXIT_OK
    assert "total parameters: 61,706" in capsys.readouterr().out
