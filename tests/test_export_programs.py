"""torch.export and TorchScript files, loaded back and run at batch sizes 1 and 5 against the app's model."""

import warnings

import pytest
import torch

from convstudio.core.builder import build_model
from convstudio.core.export import ExportError, export_torch_program, export_torchscript
from convstudio.core.presets import load_preset, preset_keys
from model_helpers import perturbed_model

# PyTorch 2.x deprecates TorchScript with a FutureWarning on every call; the exporter says so itself.
pytestmark = pytest.mark.filterwarnings("ignore:.*is deprecated.*:FutureWarning")


def trained_model(design, seed=0):
    """A perturbed model (see model_helpers), in training mode."""
    return perturbed_model(design, seed)


def expected_outputs(model, design):
    """Eval-mode outputs for batches of 1 and 5, computed on a copy so the caller's model stays as it is."""
    reference = build_model(design)
    reference.load_state_dict(model.state_dict())
    reference.eval()
    batches = [torch.randn(size, *design.input.shape, generator=torch.Generator().manual_seed(size)) for size in (1, 5)]
    with torch.no_grad():
        return [(images, reference(images)) for images in batches]


def load_torch_program(path):
    extra = {"design.json": ""}
    return torch.export.load(path, extra_files=extra).module(), extra["design.json"]


def load_torchscript(path):
    extra = {"design.json": ""}
    return torch.jit.load(path, _extra_files=extra), extra["design.json"].decode()


EXPORTERS = {"export": (export_torch_program, load_torch_program, "model.pt2"),
             "torchscript": (export_torchscript, load_torchscript, "model.pt")}


# Batch norm 2-D and 3-D, both poolings, dropout and softmax; cifar10 adds only size (and seconds).
ROUND_TRIP_PRESETS = [key for key in preset_keys() if key != "cifar10"]


@pytest.mark.parametrize("key", ROUND_TRIP_PRESETS)
@pytest.mark.parametrize("fmt", list(EXPORTERS))
def test_program_round_trip_with_dynamic_batch(fmt, key, tmp_path):
    export, load, name = EXPORTERS[fmt]
    design = load_preset(key)
    model = trained_model(design)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cases = expected_outputs(model, design)
    result = export(model, design, tmp_path / name)
    assert result.files == (tmp_path / name,) and str(tmp_path / name) in result.message
    assert model.training  # the caller's model is left as it was: an export works on a copy
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    program, design_json = load(tmp_path / name)
    assert design_json == design.to_json()
    for images, expected in cases:
        with torch.no_grad():
            torch.testing.assert_close(program(images), expected, rtol=1e-5, atol=1e-6)


def test_torchscript_message_notes_the_deprecation_when_torch_warns(tmp_path):
    design = load_preset("lenet")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.jit.script(build_model(design))
    torch_deprecates = any("deprecated" in str(warning.message) for warning in caught)
    result = export_torchscript(build_model(design), design, tmp_path / "m.pt")
    assert result.message.startswith(f"wrote {tmp_path / 'm.pt'}: TorchScript module")
    assert ("torch.export format is its successor" in result.message) == torch_deprecates


@pytest.mark.parametrize("export", [export_torch_program, export_torchscript])
def test_refuses_invalid_design_and_mismatched_model(export, tmp_path):
    design = load_preset("lenet")
    broken = design.model_copy(deep=True)
    broken.layers[0].kernel_size = 60
    with pytest.raises(ExportError, match=r"the design cannot be built: layer 1 \(conv2d\)"):
        export(build_model(design), broken, tmp_path / "m.bin")
    with pytest.raises(ExportError, match="does not match the design"):
        export(build_model(load_preset("shapes_small")), design, tmp_path / "m.bin")
    assert not (tmp_path / "m.bin").exists()
