"""Receptive fields against autograd, on generated designs.

The oracle: on a network whose weights are all positive, whose activations are
monotone and whose input is positive (float64, so nothing underflows), one
output unit's gradient with respect to the input is non-zero exactly where a
chain of positive weights links the two. Those pixels must lie inside the
computed field; for designs of convolutions and average pooling, where every
window position carries a positive weight, their bounding box must equal the
field wherever the field lies inside the input (padding does not clip it).

The networks are run by a small functional forward written here (blocks
included), so the test does not depend on the builder.
"""

from __future__ import annotations

import json
import random

import pytest
import torch
import torch.nn.functional as F

from convstudio.core.design import Design, InputSpec
from convstudio.core.layers import (
    Activation, AvgPool2d, Concat, Conv2d, Flatten, GlobalAvgPool, GlobalMaxPool, Linear, MaxPool2d, Residual,
)
from convstudio.core.receptive_field import receptive_fields, receptive_fields_by_path

_MONOTONE = ("relu", "tanh", "sigmoid", "leaky_relu", "elu", "none")
_ACTIVATION_FUNCTIONS = {
    "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "leaky_relu": F.leaky_relu,
    "elu": F.elu, "none": lambda x: x,
}


def _out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _random_window(rng: random.Random, size: int, pooling: bool) -> tuple[int, int, int] | None:
    """(kernel, stride, padding) that fit a map of ``size``, or None."""
    for _ in range(10):
        kernel = rng.randint(1, 5)
        stride = rng.randint(1, 3)
        padding = rng.randint(0, kernel // 2) if pooling else rng.randint(0, kernel - 1)
        if _out_size(size, kernel, stride, padding) >= 1:
            return kernel, stride, padding
    return None


def _random_layers(rng: random.Random, size: int, channels: int, count: int, plain: bool):
    """Layers of a valid design; ``plain``: only convolutions (relu or none) and average pooling."""
    layers = []
    for _ in range(count):
        choice = rng.choice(("conv", "conv", "avgpool") if plain else
                            ("conv", "conv", "avgpool", "maxpool", "activation", "residual", "concat"))
        if choice in ("conv", "avgpool", "maxpool"):
            window = _random_window(rng, size, pooling=choice != "conv")
            if window is None:
                break
            kernel, stride, padding = window
            if choice == "conv":
                channels = rng.randint(1, 3)
                activation = rng.choice(("relu", "none") if plain else _MONOTONE)
                layers.append(Conv2d(out_channels=channels, kernel_size=kernel, stride=stride,
                                     padding=padding, activation=activation))
            else:
                pool = AvgPool2d if choice == "avgpool" else MaxPool2d
                layers.append(pool(kernel_size=kernel, stride=stride, padding=padding))
            size = _out_size(size, kernel, stride, padding)
        elif choice == "activation":
            layers.append(Activation(activation=rng.choice(_MONOTONE)))
        elif choice == "residual":
            kernel = rng.choice((1, 3, 5))
            body = [Conv2d(out_channels=channels, kernel_size=kernel, padding=kernel // 2, activation="relu")]
            if rng.random() < 0.5:
                body.append(Conv2d(out_channels=channels, kernel_size=3, padding=1, activation="none"))
            shortcut = [Conv2d(out_channels=channels, kernel_size=1, activation="none")] if rng.random() < 0.5 else []
            layers.append(Residual(body=body, shortcut=shortcut))
        else:
            branches = [[Conv2d(out_channels=1, kernel_size=kernel, padding=kernel // 2)]
                        for kernel in rng.sample((1, 3, 5), 2)]
            if rng.random() < 0.5:
                branches.append([])
            channels = sum(1 if branch else channels for branch in branches)
            layers.append(Concat(branches=branches))
    if not plain and rng.random() < 0.3:
        layers.append(rng.choice((GlobalAvgPool(), GlobalMaxPool(), Flatten())))
        if rng.random() < 0.5:
            layers.append(Linear(out_features=2, activation="sigmoid"))
    return layers


def _positive_parameters(layer, channels_in: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    kernel = layer.axis_values("kernel_size", 2)
    # Divided by the fan-in so that values stay near 1: tanh and sigmoid must not saturate to a zero slope.
    weight = torch.rand(layer.out_channels, channels_in, *kernel, generator=rng, dtype=torch.float64) + 0.1
    weight /= channels_in * kernel[0] * kernel[1]
    bias = torch.rand(layer.out_channels, generator=rng, dtype=torch.float64) + 0.1
    return weight, bias


def _forward(layers, x: torch.Tensor, rng: torch.Generator, outputs: list | None) -> torch.Tensor:
    """Run ``layers`` on ``x`` with positive weights; append each layer's output to ``outputs``."""
    for layer in layers:
        kind = layer.kind
        if kind == "conv2d":
            weight, bias = _positive_parameters(layer, x.shape[1], rng)
            x = F.conv2d(x, weight, bias, stride=layer.axis_values("stride", 2),
                         padding=layer.axis_values("padding", 2))
            x = _ACTIVATION_FUNCTIONS[layer.activation](x)
        elif kind in ("avgpool2d", "maxpool2d"):
            pool = F.avg_pool2d if kind == "avgpool2d" else F.max_pool2d
            x = pool(x, layer.axis_values("kernel_size", 2), layer.axis_values("stride", 2),
                     layer.axis_values("padding", 2))
        elif kind == "activation":
            x = _ACTIVATION_FUNCTIONS[layer.activation](x)
        elif kind == "globalavgpool":
            x = x.mean(dim=(2, 3), keepdim=True)
        elif kind == "globalmaxpool":
            x = x.amax(dim=(2, 3), keepdim=True)
        elif kind == "flatten":
            x = x.flatten(1)
        elif kind == "linear":
            x = x.flatten(1)
            weight = (torch.rand(layer.out_features, x.shape[1], generator=rng, dtype=torch.float64) + 0.1) / x.shape[1]
            x = _ACTIVATION_FUNCTIONS[layer.activation](x @ weight.T)
        elif kind == "residual":
            body = _forward(layer.body, x, rng, None)
            shortcut = _forward(layer.shortcut, x, rng, None)
            x = torch.relu(body + shortcut)
        elif kind == "concat":
            x = torch.cat([_forward(branch, x, rng, None) for branch in layer.branches], dim=1)
        else:
            raise AssertionError(kind)
        if outputs is not None:
            outputs.append(x)
    return x


def _units(output: torch.Tensor) -> list[tuple[int, int]]:
    """Corners and the centre of the output map: where padding clips, and where it does not."""
    if output.dim() == 2:
        return [(0, 0)]
    height, width = output.shape[2:]
    return sorted({(0, 0), (0, width - 1), (height - 1, 0), (height - 1, width - 1), (height // 2, width // 2)})


def _check_design(design: Design, seed: int, plain: bool) -> int:
    """Assert the property on every layer of ``design``; returns how many units had an exact box."""
    spec = design.input
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(1, spec.channels, spec.height, spec.width, generator=generator, dtype=torch.float64) + 0.1
    image.requires_grad_(True)
    outputs: list[torch.Tensor] = []
    _forward(design.layers, image, generator, outputs)
    exact = 0
    for index, (output, field) in enumerate(zip(outputs, receptive_fields(design))):
        for unit in _units(output):
            value = output[0, 0] if output.dim() == 2 else output[0, 0, unit[0], unit[1]]
            (gradient,) = torch.autograd.grad(value, image, retain_graph=True)
            seen = gradient.abs().sum(dim=(0, 1)) != 0
            rows, columns = torch.nonzero(seen, as_tuple=True)
            box = field.clipped_box(unit)
            where = f"design {design.to_json()}, layer {index + 1}, unit {unit}, field {field.text}"
            if box is None:
                assert rows.numel() == 0, where
                continue
            (top, bottom), (left, right) = box
            assert rows.numel() > 0, where  # positive weights: the unit depends on its field
            assert top <= int(rows.min()) and int(rows.max()) <= bottom, where
            assert left <= int(columns.min()) and int(columns.max()) <= right, where
            if plain and field.box(unit) == box:  # wholly inside the input: the bounding box is the field
                assert (int(rows.min()), int(rows.max()), int(columns.min()), int(columns.max())) == (
                    top, bottom, left, right), where
                exact += 1
    return exact


@pytest.mark.parametrize("plain", [True, False], ids=["conv-avgpool", "mixed-with-blocks"])
def test_receptive_field_agrees_with_autograd(plain):
    rng = random.Random(12 if plain else 21)
    exact = 0
    for number in range(30):
        size = rng.randint(8, 20)
        channels = rng.randint(1, 2)
        layers = _random_layers(rng, size, channels, rng.randint(1, 4), plain)
        design = Design(input=InputSpec(channels=channels, height=size, width=size), layers=layers)
        exact += _check_design(design, number, plain)
    if plain:
        assert exact > 20  # the equality was really tested, not skipped everywhere


def test_recurrence_with_the_users_numbers():
    design = Design(input=InputSpec(channels=3, height=32, width=32), layers=[
        Conv2d(out_channels=8, kernel_size=4, padding=2),
        MaxPool2d(kernel_size=2),
        Conv2d(out_channels=8, kernel_size=[3, 5], stride=2, padding=[1, 0]),
    ])
    first, pool, last = receptive_fields(design)
    assert (first.sizes, first.jumps, first.starts) == ((4, 4), (1, 1), (-2, -2))
    assert first.text == "H, W: r = 1 + (4 - 1)*1 = 4, j = 1*1 = 1, start = 0 - 2*1 = -2"
    assert (pool.sizes, pool.jumps, pool.starts) == ((5, 5), (2, 2), (-2, -2))
    assert (last.sizes, last.jumps, last.starts) == ((9, 13), (4, 4), (-4, -2))
    assert last.text.startswith("H: r = 5 + (3 - 1)*2 = 9, j = 2*2 = 4, start = -2 - 1*2 = -4; W: r = 5 + (5 - 1)*2")
    assert not last.covers_input
    assert last.box((1, 2)) == ((0, 8), (6, 18))


def test_whole_input_flag_and_global_pooling():
    design = Design(input=InputSpec(channels=1, height=8, width=8), layers=[
        Conv2d(out_channels=2, kernel_size=3),  # 6x6 out
        GlobalAvgPool(),
    ])
    conv, pool = receptive_fields(design)
    assert conv.sizes == (3, 3) and not conv.covers_input
    assert pool.sizes == (8, 8) and pool.covers_input
    assert "covers the whole 8x8 input" in pool.text


def test_a_field_as_large_as_the_input_that_hangs_over_one_edge_does_not_cover_it():
    # One unit of r = 9 starting at -4 on a 9-pixel input sees pixels -4..4 only.
    design = Design(input=InputSpec(channels=1, height=9, width=9),
                    layers=[Conv2d(out_channels=1, kernel_size=9, stride=9, padding=4)])
    (field,) = receptive_fields(design)
    assert field.sizes == (9, 9) and not field.covers_input


def test_blocks_take_the_union_of_their_paths():
    design = Design(input=InputSpec(channels=2, height=16, width=16), layers=[
        Residual(body=[Conv2d(out_channels=2, kernel_size=3, padding=1),
                       Conv2d(out_channels=2, kernel_size=3, padding=1)]),
        Concat(branches=[[Conv2d(out_channels=1, kernel_size=1)], [Conv2d(out_channels=1, kernel_size=7, padding=3)]]),
    ])
    fields = receptive_fields_by_path(design)
    assert fields["0.body.0"].sizes == (3, 3) and fields["0.body.1"].sizes == (5, 5)
    assert fields["0"].sizes == (5, 5) and fields["0"].starts == (-2, -2)
    assert "the union of the paths: body 5, identity 1" in fields["0"].text
    assert fields["1.branches.0.0"].sizes == (5, 5) and fields["1.branches.1.0"].sizes == (11, 11)
    assert fields["1"].sizes == (11, 11)


def test_a_layer_on_the_wrong_rank_stops_the_field():
    design = Design(input=InputSpec(channels=1, height=8, width=8, depth=4), layers=[
        Conv2d(out_channels=1, kernel_size=3), Activation(),
    ])
    assert receptive_fields(design) == [None, None]


def test_check_prints_the_receptive_field(tmp_path, capsys):
    from convstudio.core.cli.main import main
    from convstudio.core.design import save_design

    design = Design(input=InputSpec(channels=1, height=8, width=8), layers=[
        Conv2d(out_channels=2, kernel_size=3), MaxPool2d(kernel_size=2), GlobalMaxPool(),
    ])
    path = tmp_path / "small.json"
    save_design(design, path)
    assert main(["check", "--json", str(path)]) == 0
    entries = json.loads(capsys.readouterr().out)["layers"]
    assert [entry["receptive_field"] for entry in entries] == [[3, 3], [4, 4], [8, 8]]
    assert main(["check", str(path)]) == 0
    table = capsys.readouterr().out
    assert " rf " in table.splitlines()[1]
    assert "8x8*" in table and "covers the whole input (*) from layer 3 (globalmaxpool)" in table
