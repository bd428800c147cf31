"""The design file: JSON round trips, the public example, migrations, atomic saves,
and a readable DesignFileError (file, layer, field) for every kind of bad file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from convstudio.core.design import Design, DesignFileError, design_from_dict, design_from_json, load_design, save_design
from convstudio.core.layers import LAYER_CLASSES, AvgPool3d, Conv2d, Dropout, Linear, MaxPool2d
from convstudio.core.migrations import CURRENT_SCHEMA_VERSION
from convstudio.core.presets import load_preset, preset_keys

# The example of the issue, verbatim: a public contract that others write by hand.
ISSUE_EXAMPLE = """\
{"schema_version": 1, "name": "CIFAR10 (lecture 6)",
 "input": {"channels": 3, "height": 32, "width": 32},
 "layers": [
   {"kind": "conv2d", "out_channels": 64, "kernel_size": 4, "stride": 1, "padding": 2, "activation": "relu"},
   {"kind": "batchnorm"},
   {"kind": "maxpool2d", "kernel_size": 2, "stride": 2},
   {"kind": "dropout", "p": 0.25},
   {"kind": "flatten"},
   {"kind": "linear", "out_features": 10, "activation": "none"}]}
"""

INPUT = {"channels": 3, "height": 32, "width": 32}


def every_kind_design() -> Design:
    """A design using every layer kind and most optional fields (shapes need not work)."""
    return Design.model_validate({
        "name": "All kinds", "description": "notes\nwith a second line",
        "input": {"channels": 2, "depth": 8, "height": 16, "width": 12},
        "layers": [
            {"kind": "conv3d", "out_channels": 4, "kernel_size": [3, 5, 5], "stride": [1, 2, 2],
             "padding": [1, 2, 2], "bias": False, "activation": "gelu", "name": "stem"},
            {"kind": "batchnorm", "eps": 1e-3, "momentum": 0.2},
            {"kind": "maxpool3d", "kernel_size": 2},
            {"kind": "avgpool3d", "kernel_size": [1, 2, 2], "stride": 1, "padding": [0, 1, 1]},
            {"kind": "globalmaxpool"},
            {"kind": "conv2d", "out_channels": 3, "kernel_size": 3},
            {"kind": "residual", "name": "res_a", "activation": "tanh",
             "body": [{"kind": "conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1, "name": "first"},
                      {"kind": "batchnorm"}],
             "shortcut": [{"kind": "conv2d", "out_channels": 3, "kernel_size": 1, "bias": False}]},
            {"kind": "concat", "branches": [
                [],
                [{"kind": "residual", "body": [{"kind": "activation"}]}],
                [{"kind": "concat", "branches": [[{"kind": "dropout", "p": 0.1}]]}]]},
            {"kind": "globalavgpool"},
            {"kind": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1},
            {"kind": "avgpool2d", "kernel_size": [2, 3]},
            {"kind": "dropout", "p": 0.3},
            {"kind": "flatten", "name": "to_vector"},
            {"kind": "linear", "out_features": 20, "flatten_input": True, "activation": "leaky_relu"},
            {"kind": "activation", "activation": "elu"},
            {"kind": "linear", "out_features": 5, "activation": "none", "bias": False},
            {"kind": "softmax"},
        ],
        "training": {"epochs": 3, "optimizer": {"name": "adam", "lr": 0.001}},
    })


def write(tmp_path: Path, content: str | bytes, name: str = "design.json") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def design_text(*layers: dict, **top) -> str:
    return json.dumps({"schema_version": 1, "input": INPUT, "layers": list(layers), **top})


def load_error(path: Path) -> str:
    with pytest.raises(DesignFileError) as caught:
        load_design(path)
    message = str(caught.value)
    assert "Traceback" not in message
    # Every line of the message names the file.
    assert all(line.startswith(str(path)) for line in message.splitlines()), message
    return message


# --- round trips ------------------------------------------------------------------------


def test_every_kind_is_covered_by_the_round_trip_design():
    assert {layer.kind for layer in every_kind_design().layers} == set(LAYER_CLASSES)


@pytest.mark.parametrize("design", [every_kind_design(), *[load_preset(key) for key in preset_keys()]],
                         ids=["every_kind", *preset_keys()])
def test_json_round_trip(design: Design):
    text = design.to_json()
    again = design_from_json(text)
    assert again == design
    assert again.to_json() == text


def test_save_and_load_through_a_file(tmp_path: Path):
    design = every_kind_design()
    path = tmp_path / "sub" / "folder" / "net.json"
    save_design(design, path)
    assert load_design(path) == design
    assert load_design(str(path)) == design
    assert json.loads(path.read_text(encoding="utf-8"))["schema_version"] == CURRENT_SCHEMA_VERSION


def test_to_json_leaves_out_defaults_but_keeps_the_contract_names():
    design = Design.model_validate({"input": INPUT, "layers": [
        {"kind": "conv2d", "out_channels": 8, "kernel_size": 3},
        {"kind": "maxpool2d", "kernel_size": 2},
    ]})
    data = json.loads(design.to_json())
    assert data["schema_version"] == CURRENT_SCHEMA_VERSION
    assert data["input"] == INPUT  # no "depth": null for images
    assert data["layers"] == [
        {"kind": "conv2d", "out_channels": 8, "kernel_size": 3},
        {"kind": "maxpool2d", "kernel_size": 2},
    ]


def test_the_issue_example_loads_verbatim(tmp_path: Path):
    design = load_design(write(tmp_path, ISSUE_EXAMPLE))
    assert design.name == "CIFAR10 (lecture 6)"
    assert design.input.shape == (3, 32, 32)
    assert [layer.kind for layer in design.layers] == [
        "conv2d", "batchnorm", "maxpool2d", "dropout", "flatten", "linear"]
    conv, _, pool, dropout, _, linear = design.layers
    assert isinstance(conv, Conv2d) and (conv.out_channels, conv.kernel_size, conv.stride, conv.padding) == (64, 4, 1, 2)
    assert isinstance(pool, MaxPool2d) and pool.axis_values("stride", 2) == (2, 2)
    assert isinstance(dropout, Dropout) and dropout.p == 0.25 and dropout.keep_probability == 0.75
    assert isinstance(linear, Linear) and linear.activation == "none" and linear.out_features == 10


def test_defaults_of_the_contract():
    design = Design.model_validate({"input": INPUT, "layers": [
        {"kind": "conv2d", "out_channels": 8, "kernel_size": [3, 5]},
        {"kind": "avgpool3d", "kernel_size": [1, 2, 3]},
        {"kind": "linear", "out_features": 4},
    ]})
    conv, pool, linear = design.layers
    assert (conv.stride, conv.padding, conv.activation, conv.bias) == (1, 0, "relu", True)
    assert conv.axis_values("kernel_size", 2) == (3, 5)
    assert isinstance(pool, AvgPool3d) and pool.stride is None and pool.axis_values("stride", 3) == (1, 2, 3)
    assert linear.activation == "relu" and linear.flatten_input is False


# --- migrations ---------------------------------------------------------------------------


def test_unversioned_file_with_type_instead_of_kind_migrates(tmp_path: Path):
    old = {"name": "old file", "input": INPUT, "layers": [
        {"type": "conv2d", "out_channels": 8, "kernel_size": 3},
        {"type": "flatten"},
        {"type": "linear", "out_features": 10},
    ]}
    design = load_design(write(tmp_path, json.dumps(old)))
    assert design.schema_version == CURRENT_SCHEMA_VERSION
    assert [layer.kind for layer in design.layers] == ["conv2d", "flatten", "linear"]
    assert design.layers[0].out_channels == 8
    # Saved again, it is a current file.
    assert json.loads(design.to_json())["schema_version"] == CURRENT_SCHEMA_VERSION


def test_migration_errors_still_name_the_layer(tmp_path: Path):
    old = {"input": INPUT, "layers": [{"type": "flatten"}, {"type": "conv2d", "out_channels": 0, "kernel_size": 3}]}
    message = load_error(write(tmp_path, json.dumps(old)))
    assert "layer 2 (conv2d): out_channels must be at least 1, got 0" in message


@pytest.mark.parametrize("layers", [None, "abc", 3])
def test_unversioned_file_whose_layers_are_not_a_list(tmp_path: Path, layers):
    message = load_error(write(tmp_path, json.dumps({"input": INPUT, "layers": layers})))
    assert "layers must be a list" in message


def test_migration_leaves_the_input_data_alone():
    data = {"input": dict(INPUT), "layers": [{"type": "flatten"}]}
    design_from_dict(data)
    assert data == {"input": INPUT, "layers": [{"type": "flatten"}]}


# --- malformed files ---------------------------------------------------------------------

MALFORMED = {
    "truncated JSON": (
        '{"schema_version": 1, "input": {"channels": 3, "height": 32, "width": 32}, "layers": [{"kind": "fl',
        ["not valid JSON at line 1", "Is the file complete?"],
    ),
    "empty file": ("", ["not valid JSON"]),
    "unknown kind": (
        design_text({"kind": "flatten"}, {"kind": "conv2x", "out_channels": 3, "kernel_size": 3}),
        ["layer 2 (conv2x): unknown kind 'conv2x'; did you mean 'conv2d'?", "Known kinds: conv2d"],
    ),
    "unknown kind without a close match": (
        design_text({"kind": "transformer"}), ["layer 1 (transformer): unknown kind 'transformer'. Known kinds"],
    ),
    "missing kind": (design_text({"out_channels": 3}), ["layer 1: has no 'kind' field"]),
    "layer not an object": (design_text({"kind": "flatten"}, 7), ["layer 2: must be an object"]),
    "wrong type, text for a number": (
        design_text({"kind": "conv2d", "out_channels": "64", "kernel_size": 3}),
        ["layer 1 (conv2d): out_channels must be a whole number, got '64'"],
    ),
    "wrong type, float for an int": (
        design_text({"kind": "conv2d", "out_channels": 64.0, "kernel_size": 3}),
        ["layer 1 (conv2d): out_channels must be a whole number, got 64.0"],
    ),
    "wrong type, bool for an int": (
        design_text({"kind": "linear", "out_features": True}),
        ["layer 1 (linear): out_features must be a whole number, got True"],
    ),
    "wrong type inside a list": (
        design_text({"kind": "conv2d", "out_channels": 4, "kernel_size": [3, "a"]}),
        ["layer 1 (conv2d): kernel_size[2] must be a whole number, got 'a'"],
    ),
    "wrong type, text for a bool": (
        design_text({"kind": "flatten"}, {"kind": "linear", "out_features": 3, "flatten_input": "yes"}),
        ["layer 2 (linear): flatten_input must be true or false, got 'yes'"],
    ),
    "misspelled field": (
        design_text({"kind": "flatten"}, {"kind": "conv2d", "out_channels": 64, "kernel_sise": 3}),
        ["layer 2 (conv2d): kernel_sise is not a known field; did you mean 'kernel_size'?"],
    ),
    "misspelled input field": (
        json.dumps({"schema_version": 1, "input": {"channels": 3, "heigth": 32, "width": 32}, "layers": []}),
        ["input.heigth is not a known field; did you mean 'height'?"],
    ),
    "misspelled top-level field": (
        json.dumps({"schema_version": 1, "input": INPUT, "layer": []}), ["layer is not a known field; did you mean 'layers'?"],
    ),
    "unknown activation": (
        design_text({"kind": "conv2d", "out_channels": 3, "kernel_size": 3, "activation": "relux"}),
        ["layer 1 (conv2d): activation must be one of", "got 'relux'"],
    ),
    "kernel size zero": (
        design_text({"kind": "conv2d", "out_channels": 64, "kernel_size": 0}),
        ["layer 1 (conv2d): kernel_size must be at least 1, got 0"],
    ),
    "zero inside a kernel list": (
        design_text({"kind": "maxpool2d", "kernel_size": [2, 0]}), ["layer 1 (maxpool2d): kernel_size[2] must be at least 1, got 0"],
    ),
    "negative padding": (
        design_text({"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": -1}),
        ["layer 1 (conv2d): padding must be at least 0, got -1"],
    ),
    "dropout p of 1 or more": (
        design_text({"kind": "flatten"}, {"kind": "dropout", "p": 1.5}), ["layer 2 (dropout): p must be less than 1"],
    ),
    "kernel list of the wrong length": (
        design_text({"kind": "conv2d", "out_channels": 4, "kernel_size": [3, 3, 3]}),
        ["layer 1 (conv2d): kernel_size lists 3 values but conv2d needs 2 (height, width)"],
    ),
    "missing required field": (
        design_text({"kind": "conv2d", "kernel_size": 3}), ["layer 1 (conv2d): out_channels is required but missing"],
    ),
    "layer name not an identifier": (
        design_text({"kind": "flatten", "name": "my layer"}), ["layer 1 (flatten): name must be a Python identifier"],
    ),
    "input out of range": (
        json.dumps({"schema_version": 1, "input": {"channels": 0, "height": 32, "width": 32}, "layers": []}),
        ["input.channels must be at least 1, got 0"],
    ),
    "input not an object": (json.dumps({"schema_version": 1, "input": 3, "layers": []}), ["input must be a JSON object"]),
    "input missing": (json.dumps({"schema_version": 1, "layers": []}), ["input is required but missing"]),
    "newer schema version": (
        json.dumps({"schema_version": CURRENT_SCHEMA_VERSION + 1, "input": INPUT, "layers": []}),
        [f"newer ConvStudio (schema_version {CURRENT_SCHEMA_VERSION + 1}", "Update ConvStudio"],
    ),
    "schema version as text": (
        json.dumps({"schema_version": "1", "input": INPUT, "layers": []}), ["schema_version must be a whole number"],
    ),
    "top-level list": ("[1, 2, 3]", ["a design must be a JSON object", "not a list"]),
    "top-level number": ("42", ["a design must be a JSON object", "not a int"]),
    "duplicate layer names": (
        design_text({"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "name": "stem"},
                    {"kind": "flatten", "name": "stem"}),
        ["design.json: layer 2 (flatten) reuses the name 'stem' of layer 1: give each layer its own name"],
    ),
}


@pytest.mark.parametrize(("content", "expected"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_file_gives_a_readable_error(tmp_path: Path, content: str, expected: list[str]):
    path = write(tmp_path, content)
    message = load_error(path)
    for fragment in expected:
        assert fragment in message, message


def test_several_problems_are_listed_one_per_line(tmp_path: Path):
    path = write(tmp_path, design_text(
        {"kind": "conv2d", "out_channels": 0, "kernel_size": 3},
        {"kind": "flatten"},
        {"kind": "linear", "out_features": "ten"},
    ))
    lines = load_error(path).splitlines()
    assert lines == [
        f"{path}: layer 1 (conv2d): out_channels must be at least 1, got 0",
        f"{path}: layer 3 (linear): out_features must be a whole number, got 'ten'",
    ]


def test_missing_file(tmp_path: Path):
    path = tmp_path / "nowhere.json"
    assert load_error(path) == f"{path}: no such file"


def test_a_folder(tmp_path: Path):
    assert load_error(tmp_path) == f"{tmp_path}: is a folder, not a design file"


def test_non_utf8_bytes(tmp_path: Path):
    path = write(tmp_path, b'{"name": "caf\xe9", "input": {}}')
    assert "not a text file" in load_error(path)


def test_binary_garbage(tmp_path: Path):
    path = write(tmp_path, bytes(range(256)))
    load_error(path)


def test_duplicate_layer_names_are_refused_when_built_in_code_too():
    with pytest.raises(ValueError, match="reuses the name 'a'"):
        Design.model_validate({"input": INPUT, "layers": [{"kind": "flatten", "name": "a"},
                                                          {"kind": "dropout", "name": "a"}]})


def test_unknown_fields_are_refused_on_every_kind():
    for kind, cls in LAYER_CLASSES.items():
        assert cls.model_config.get("extra") == "forbid", kind


def test_source_names_the_file_for_text_and_data():
    with pytest.raises(DesignFileError, match=r"^my\.json: layer 1 \(flatten\): colour is not a known field"):
        design_from_json(design_text({"kind": "flatten", "colour": 1}), "my.json")
    with pytest.raises(DesignFileError, match=r"^clipboard: a design must be a JSON object"):
        design_from_dict([], "clipboard")


# --- atomic saving ----------------------------------------------------------------------


def test_failed_save_leaves_the_old_file_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "net.json"
    old = load_preset("lenet")
    save_design(old, path)
    before = path.read_bytes()

    def refuse(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        save_design(load_preset("cifar10"), path)
    assert path.read_bytes() == before
    assert load_design(path) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.json"]  # no temporary file left behind


def test_failed_write_midway_leaves_the_old_file_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "net.json"
    save_design(load_preset("lenet"), path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        save_design(load_preset("cifar10"), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.json"]


def test_save_replaces_an_existing_file(tmp_path: Path):
    path = tmp_path / "net.json"
    save_design(load_preset("lenet"), path)
    save_design(load_preset("cifar10"), path)
    assert load_design(path) == load_preset("cifar10")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.json"]
