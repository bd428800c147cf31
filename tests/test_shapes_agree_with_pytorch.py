"""The shape engine agrees with PyTorch itself, over many generated designs.

PyTorch is the oracle: every generated design is also run through real
``torch.nn`` modules on the ``meta`` device (shapes only, no arithmetic). The
engine must give the same output shape and parameter count for every layer,
and report its first problem exactly at the layer where PyTorch refuses.

``build_model`` refuses impossible designs, so the oracle here builds the
modules layer by layer itself (``_torch_layer``) and records where PyTorch
raises; for valid designs the model that ``build_model`` returns is checked as
well, module by module along ``model.layer_modules``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch import nn

from convstudio.core.builder import DesignShapeError, build_model
from convstudio.core.design import Design
from convstudio.core.shape_records import DesignReport
from convstudio.core.shapes import infer_shapes

# Larger than any channel count generated below, so that PyTorch can never take
# the batch axis for a channel axis without the tests noticing.
BATCH = 97

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
                "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "gelu": nn.GELU}
_POOLS = {"maxpool2d": nn.MaxPool2d, "avgpool2d": nn.AvgPool2d,
          "maxpool3d": nn.MaxPool3d, "avgpool3d": nn.AvgPool3d}


class TorchRefused(Exception):
    """PyTorch cannot apply this layer to what it receives."""


@dataclass
class TorchLayer:
    output_shape: tuple[int, ...]  # per sample, no batch axis
    params: int
    macs: int


def _spread(value, rank: int) -> tuple[int, ...]:
    return (value,) * rank if isinstance(value, int) else tuple(value)


def _torch_modules(layer: dict, x: torch.Tensor) -> list[nn.Module]:
    """The plain torch modules for one design layer (as design-file data) receiving ``x``.

    Written from PyTorch's documentation, independently of ``core.builder``.
    """
    kind = layer["kind"]
    if kind in ("conv2d", "conv3d"):
        rank = 2 if kind == "conv2d" else 3
        conv = (nn.Conv2d if rank == 2 else nn.Conv3d)(
            x.shape[1], layer["out_channels"], _spread(layer["kernel_size"], rank),
            stride=_spread(layer.get("stride", 1), rank), padding=_spread(layer.get("padding", 0), rank),
            bias=layer.get("bias", True),
        )
        activation = layer.get("activation", "relu")
        return [conv] + ([_ACTIVATIONS[activation]()] if activation != "none" else [])
    if kind in _POOLS:
        rank = 2 if kind.endswith("2d") else 3
        kernel = _spread(layer["kernel_size"], rank)
        stride = _spread(layer["stride"], rank) if layer.get("stride") is not None else kernel
        return [_POOLS[kind](kernel, stride=stride, padding=_spread(layer.get("padding", 0), rank))]
    if kind == "batchnorm":
        norm = {2: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}[x.dim()]
        return [norm(x.shape[1])]
    if kind == "dropout":
        return [nn.Dropout(layer.get("p", 0.5))]
    if kind == "flatten":
        return [nn.Flatten()]
    if kind == "linear":
        modules: list[nn.Module] = [nn.Flatten()] if layer.get("flatten_input", False) else []
        in_features = math.prod(x.shape[1:])
        modules.append(nn.Linear(in_features, layer["out_features"], bias=layer.get("bias", True)))
        activation = layer.get("activation", "relu")
        return modules + ([_ACTIVATIONS[activation]()] if activation != "none" else [])
    if kind == "activation":
        activation = layer.get("activation", "relu")
        return [_ACTIVATIONS[activation]() if activation != "none" else nn.Identity()]
    if kind == "softmax":
        return [nn.Softmax(dim=1)]
    raise AssertionError(kind)


def _refused_by_rank(layer: dict, x: torch.Tensor) -> bool:
    """True where PyTorch would only accept ``x`` by reading it as one unbatched sample.

    Convolutions and pooling also take unbatched input (one axis fewer), and
    ``nn.Linear`` acts on the last axis of any tensor. A model always receives
    batches, so PyTorch reading the batch axis as channels (or a linear layer
    acting on image rows) is a refusal in all but name. Convolutions usually
    fail outright on the channel count, but ``MaxPool3d`` on a batch of images
    would "work" by pooling across the batch.
    """
    kind = layer["kind"]
    if kind in ("conv2d", "maxpool2d", "avgpool2d"):
        return x.dim() != 4
    if kind in ("conv3d", "maxpool3d", "avgpool3d"):
        return x.dim() != 5
    if kind == "linear" and not layer.get("flatten_input", False):
        return x.dim() != 2
    return False


def _torch_layer(layer: dict, in_shape: tuple[int, ...]) -> TorchLayer:
    """Build and run one layer in PyTorch on a meta batch; TorchRefused where PyTorch refuses."""
    x = torch.empty((BATCH, *in_shape), device="meta")
    if _refused_by_rank(layer, x):
        raise TorchRefused("rank")
    try:
        with torch.device("meta"):
            modules = _torch_modules(layer, x)
        params = sum(p.numel() for module in modules for p in module.parameters())
        macs = 0
        for module in modules:
            y = module(x)
            if isinstance(module, (nn.Conv2d, nn.Conv3d)):
                macs += y[0].numel() * module.in_channels * math.prod(module.kernel_size)
            elif isinstance(module, nn.Linear):
                macs += module.in_features * module.out_features
            x = y
    except (RuntimeError, ValueError, IndexError) as error:
        raise TorchRefused(str(error)) from error
    assert x.shape[0] == BATCH
    return TorchLayer(tuple(x.shape[1:]), params, macs)


def _layer_data(design: Design) -> list[dict]:
    return [{"kind": layer.kind, **layer.model_dump(exclude_none=True)} for layer in design.layers]


def _known(shape) -> bool:
    return shape is not None and None not in shape


# --- generated designs -----------------------------------------------------------------

_ACTIVATION_NAMES = st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu", "none"])


def _per_axis(values: st.SearchStrategy[int], rank: int) -> st.SearchStrategy:
    return st.one_of(values, st.lists(values, min_size=rank, max_size=rank))


@st.composite
def _spatial_layer(draw, rank: int) -> dict:
    kind = draw(st.sampled_from(["conv", "conv", "maxpool", "avgpool"]))
    kernel = draw(_per_axis(st.integers(1, 5), rank))
    suffix = f"{rank}d"
    if kind == "conv":
        layer = {"kind": "conv" + suffix, "out_channels": draw(st.integers(1, 6)), "kernel_size": kernel,
                 "stride": draw(_per_axis(st.integers(1, 3), rank)),
                 "padding": draw(_per_axis(st.integers(0, 3), rank)),
                 "bias": draw(st.booleans()), "activation": draw(_ACTIVATION_NAMES)}
    else:
        # Padding up to one more than PyTorch allows (half the kernel), so both sides are drawn.
        kernels = _spread(kernel, rank)
        paddings = [draw(st.integers(0, k // 2 + 1)) for k in kernels]
        padding = paddings[0] if draw(st.booleans()) else paddings
        layer = {"kind": kind + suffix, "kernel_size": kernel, "padding": padding}
        if draw(st.booleans()):
            layer["stride"] = draw(_per_axis(st.integers(1, 3), rank))
    return layer


@st.composite
def designs(draw) -> Design:
    rank = draw(st.sampled_from([2, 3]))
    spec = {"channels": draw(st.integers(1, 4)), "height": draw(st.integers(1, 14)),
            "width": draw(st.integers(1, 14))}
    if rank == 3:
        spec["depth"] = draw(st.integers(1, 8))
    layers = []
    for _ in range(draw(st.integers(1, 7))):
        # Mostly layers of the input's rank; now and then one of the other rank.
        layer_rank = rank if draw(st.integers(0, 9)) else 5 - rank
        choice = draw(st.sampled_from(
            ["spatial"] * 6 + ["batchnorm", "dropout", "flatten", "linear", "activation", "softmax"]))
        if choice == "spatial":
            layers.append(draw(_spatial_layer(layer_rank)))
        elif choice == "linear":
            layers.append({"kind": "linear", "out_features": draw(st.integers(1, 8)),
                           "bias": draw(st.booleans()), "activation": draw(_ACTIVATION_NAMES),
                           "flatten_input": draw(st.booleans())})
        elif choice == "dropout":
            layers.append({"kind": "dropout", "p": draw(st.sampled_from([0.0, 0.25, 0.5]))})
        elif choice == "activation":
            layers.append({"kind": "activation", "activation": draw(_ACTIVATION_NAMES)})
        else:
            layers.append({"kind": choice})
    return Design.model_validate({"input": spec, "layers": layers})


# --- the properties --------------------------------------------------------------------


def _check_against_torch(design: Design, report: DesignReport) -> int | None:
    """Compare every layer with PyTorch; return the index where PyTorch first refuses."""
    layers = _layer_data(design)
    assert len(report.layers) == len(layers)

    # 1. The whole chain, as PyTorch runs it: same shapes and counts up to the first refusal.
    shape = design.input.shape
    torch_failure = None
    for index, (layer, result) in enumerate(zip(layers, report.layers)):
        assert result.input_shape == shape, f"layer {index + 1}: input shape"
        try:
            expected = _torch_layer(layer, shape)
        except TorchRefused:
            torch_failure = index
            break
        assert result.problem is None, f"layer {index + 1} ({layer['kind']}): engine refuses, PyTorch does not: {result.error}"
        assert result.output_shape == expected.output_shape, f"layer {index + 1} ({layer['kind']}) output"
        assert result.params == expected.params, f"layer {index + 1} ({layer['kind']}) parameters"
        assert result.macs == expected.macs, f"layer {index + 1} ({layer['kind']}) multiply-accumulates"
        shape = expected.output_shape
    engine_failure = report.problems[0].index if report.problems else None
    assert engine_failure == torch_failure, (
        f"first error: engine at {engine_failure}, PyTorch at {torch_failure}; {report.first_error()}"
    )

    # 2. Layers after the first error: wherever the engine still claims to know the
    #    input, PyTorch given that input agrees with the engine's verdict and sizes.
    for index, (layer, result) in enumerate(zip(layers, report.layers)):
        if torch_failure is None or index <= torch_failure:
            continue
        if _known(result.input_shape):
            try:
                expected = _torch_layer(layer, result.input_shape)
            except TorchRefused:
                assert result.problem is not None, f"layer {index + 1} ({layer['kind']}): PyTorch refuses"
                continue
            assert result.problem is None, f"layer {index + 1}: {result.error}"
            assert result.output_shape == expected.output_shape
            assert result.params == expected.params
        elif (result.params is not None and result.problem is None and result.input_shape is not None
              and result.input_shape[0] is not None):
            # Spatial sizes unknown, channels known: parameter counts need only the channels.
            in_channels = result.input_shape[0]
            probe = (in_channels,) + (64,) * (len(result.input_shape) - 1)
            assert result.params == _torch_layer(layer, probe).params, f"layer {index + 1} parameters"
    return torch_failure


def _check_built_model(design: Design, report: DesignReport) -> None:
    """build_model's own model, run module by module, gives the engine's shapes and counts."""
    if not report.valid:
        with pytest.raises(DesignShapeError, match=report.problems[0].label.replace("(", r"\(").replace(")", r"\)")):
            build_model(design, device="meta")
        return
    model = build_model(design, device="meta")
    assert len(model.layer_modules) == len(design.layers)
    x = torch.empty((BATCH, *design.input.shape), device="meta")
    for result, names in zip(report.layers, model.layer_modules):
        params = 0
        for name in names:
            module = getattr(model, name)
            params += sum(p.numel() for p in module.parameters())
            x = module(x)
        assert result.name == names[-1] or result.name in names
        assert tuple(x.shape[1:]) == result.output_shape, f"{result.label}: built model's output"
        assert params == result.params, f"{result.label}: built model's parameters"
    assert sum(p.numel() for p in model.parameters()) == report.total_params


def _check_fixes(design: Design, report: DesignReport) -> None:
    """Every fix the engine offers, applied to the design, removes that layer's problem.

    A fix that changes the kind (conv3d -> conv2d) answers the rank problem only;
    the other kind may still not fit its input, which the engine then reports.
    """
    for result in report.problems:
        for fix in result.problem.fixes:
            layers = _layer_data(design)
            at = result.index
            if fix.changes:
                layers[at] = {**layers[at], **fix.changes}
            if fix.insert_before:
                layers.insert(at, dict(fix.insert_before))
                at += 1
            data = design.model_dump(exclude_none=True)
            data["layers"] = layers
            fixed = infer_shapes(Design.model_validate(data)).layers[at]
            if fix.changes and "kind" in fix.changes:
                assert fixed.problem is None or fixed.problem.field != "kind", fixed.error
            else:
                assert fixed.problem is None, f"{result.label}: fix {fix.description!r} leaves: {fixed.error}"


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(designs())
def test_engine_agrees_with_pytorch(design: Design) -> None:
    report = infer_shapes(design)
    torch_failure = _check_against_torch(design, report)
    event("valid" if torch_failure is None else "impossible")
    _check_built_model(design, report)
    _check_fixes(design, report)
    if report.valid:
        assert report.total_params == sum(layer.params for layer in report.layers)
        assert report.total_macs == sum(layer.macs for layer in report.layers)


@st.composite
def valid_designs(draw) -> Design:
    """Designs that are possible by construction (large inputs, fitting kernels), 2-D or 3-D."""
    rank = draw(st.sampled_from([2, 3]))
    spec = {"channels": draw(st.integers(1, 4)), "height": draw(st.integers(16, 40)),
            "width": draw(st.integers(16, 40))}
    if rank == 3:
        spec["depth"] = draw(st.integers(12, 20))
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        layer = draw(_spatial_layer(rank))
        # Small enough that three such layers always fit in the inputs drawn above.
        layer["kernel_size"] = draw(_per_axis(st.integers(1, 3), rank))
        layer["stride"] = draw(_per_axis(st.integers(1, 2), rank))
        layer["padding"] = 0 if layer["kind"].startswith(("max", "avg")) else draw(_per_axis(st.integers(0, 2), rank))
        layers.append(layer)
        if draw(st.booleans()):
            layers.append({"kind": "batchnorm"})
    layers.append({"kind": "flatten"})
    layers.append({"kind": "linear", "out_features": draw(st.integers(1, 10)), "activation": "none"})
    layers.append({"kind": "softmax"})
    return Design.model_validate({"input": spec, "layers": layers})


@settings(max_examples=60, deadline=None)
@given(valid_designs())
def test_possible_designs_agree_with_pytorch(design: Design) -> None:
    """Long valid chains (rare among the random designs above) agree end to end."""
    report = infer_shapes(design)
    assert report.valid, report.first_error()
    assert _check_against_torch(design, report) is None
    _check_built_model(design, report)


@pytest.mark.parametrize(
    ("kind", "in_shape", "layer"),
    [
        # Padding makes the kernel fit, but PyTorch's 3-D average pooling also
        # needs the unpadded input to be at least the kernel.
        ("avgpool3d", (2, 2, 6, 6), {"kind": "avgpool3d", "kernel_size": [3, 2, 2], "padding": 1}),
        ("maxpool3d", (2, 2, 6, 6), {"kind": "maxpool3d", "kernel_size": [3, 2, 2], "padding": 1}),
        ("avgpool2d", (2, 2, 6), {"kind": "avgpool2d", "kernel_size": [3, 2], "padding": 1}),
        ("maxpool3d on images", (3, 8, 8), {"kind": "maxpool3d", "kernel_size": 2}),
        ("conv2d on volumes", (3, 4, 8, 8), {"kind": "conv2d", "out_channels": 4, "kernel_size": 2}),
        ("conv2d on vectors", (12,), {"kind": "conv2d", "out_channels": 4, "kernel_size": 1}),
        ("linear on images", (1, 1, 5), {"kind": "linear", "out_features": 5}),
        ("pool padding", (3, 8, 8), {"kind": "maxpool2d", "kernel_size": 3, "padding": 2}),
        ("conv kernel", (3, 4, 4), {"kind": "conv2d", "out_channels": 2, "kernel_size": 5, "padding": 0}),
        ("conv kernel padded", (3, 4, 4), {"kind": "conv2d", "out_channels": 2, "kernel_size": 5, "padding": 1}),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_edge_cases_agree_with_pytorch(kind: str, in_shape: tuple[int, ...], layer: dict) -> None:
    """Hand-picked borders where a generated search could miss the disagreement."""
    spec = {"channels": in_shape[0], "height": in_shape[-2] if len(in_shape) > 1 else 1,
            "width": in_shape[-1] if len(in_shape) > 1 else 1}
    if len(in_shape) == 4:
        spec["depth"] = in_shape[1]
    layers = [layer]
    if len(in_shape) == 1:
        spec = {"channels": in_shape[0], "height": 1, "width": 1}
        layers = [{"kind": "flatten"}, layer]
    design = Design.model_validate({"input": spec, "layers": layers})
    report = infer_shapes(design)
    _check_against_torch(design, report)
    _check_built_model(design, report)


# --- nested designs: residual and concat blocks, to any depth --------------------------------


class TorchRefusedAt(Exception):
    """PyTorch refuses the layer at ``path`` (a 0-based tuple path such as ``(2, "body", 0)``)."""

    def __init__(self, path: tuple):
        super().__init__(path)
        self.path = path


def _torch_stack(layers: list[dict], in_shape: tuple[int, ...], prefix: tuple, seen: dict) -> tuple[int, ...]:
    """Run a stack of layers (design-file data) as PyTorch would, recording each layer under its path.

    Blocks are written here from their definition: a residual block adds body and
    shortcut, which must give the same shape (broadcasting is not a residual sum);
    a concat block joins its branches with ``torch.cat`` along channels.
    """
    shape = in_shape
    for index, layer in enumerate(layers):
        path = prefix + (index,)
        kind = layer["kind"]
        if kind == "residual":
            body = _torch_stack(layer.get("body", []), shape, path + ("body",), seen)
            shortcut = _torch_stack(layer.get("shortcut", []), shape, path + ("shortcut",), seen)
            if body != shortcut:
                raise TorchRefusedAt(path)
            output = body
        elif kind == "concat":
            outputs = [_torch_stack(branch, shape, path + (f"branches.{number}",), seen)
                       for number, branch in enumerate(layer["branches"])]
            try:
                joined = torch.cat([torch.empty((BATCH, *output), device="meta") for output in outputs], dim=1)
            except (RuntimeError, IndexError) as error:
                raise TorchRefusedAt(path) from error
            output = tuple(joined.shape[1:])
        elif kind in ("globalavgpool", "globalmaxpool"):
            if len(shape) not in (3, 4):
                raise TorchRefusedAt(path)
            pool = {("globalavgpool", 3): nn.AdaptiveAvgPool2d, ("globalavgpool", 4): nn.AdaptiveAvgPool3d,
                    ("globalmaxpool", 3): nn.AdaptiveMaxPool2d, ("globalmaxpool", 4): nn.AdaptiveMaxPool3d}
            output = tuple(pool[kind, len(shape)](1)(torch.empty((BATCH, *shape), device="meta")).shape[1:])
            seen[path] = TorchLayer(output, 0, 0)
            shape = output
            continue
        else:
            try:
                result = _torch_layer(layer, shape)
            except TorchRefused:
                raise TorchRefusedAt(path) from None
            seen[path] = result
            shape = result.output_shape
            continue
        # A block's parameters and MACs: those of the plain layers inside it (blocks repeat their totals).
        inner = [value for key, value in seen.items()
                 if key[:len(path)] == path and len(key) > len(path) and not isinstance(value, _BlockResult)]
        seen[path] = _BlockResult(output, sum(item.params for item in inner), sum(item.macs for item in inner))
        shape = output
    return shape


class _BlockResult(TorchLayer):
    """PyTorch's result for a whole block."""


def _nested_oracle(design: Design) -> tuple[dict, tuple | None]:
    """Every layer's PyTorch result by path, and the path where PyTorch first refuses (None: never)."""
    data = design.model_dump(exclude_none=True)["layers"]
    seen: dict = {}
    try:
        _torch_stack(data, design.input.shape, (), seen)
    except TorchRefusedAt as refused:
        return seen, refused.path
    return seen, None


def _engine_failure(report: DesignReport) -> tuple | None:
    if not report.problems:
        return None
    first = report.problems[0]
    return (first.index,) + first.problem.path


_SIZE_KEEPING = st.sampled_from([{"kind": "batchnorm"}, {"kind": "activation", "activation": "relu"},
                                 {"kind": "dropout", "p": 0.25}])


@st.composite
def _nested_stack(draw, rank: int, depth: int, low: int, high: int) -> list[dict]:
    """A stack of 0-3 layers: size-keeping convolutions (so merges often work), others, blocks."""
    layers = []
    for _ in range(draw(st.integers(low, high))):
        choice = draw(st.sampled_from(["keeping conv", "keeping conv", "plain", "spatial", "block", "global"]))
        suffix = f"{rank}d"
        if choice == "keeping conv":
            kernel = draw(st.sampled_from([1, 3]))
            layers.append({"kind": "conv" + suffix, "out_channels": draw(st.integers(1, 4)), "kernel_size": kernel,
                           "padding": kernel // 2, "stride": draw(st.sampled_from([1, 1, 2])),
                           "activation": draw(_ACTIVATION_NAMES), "bias": draw(st.booleans())})
        elif choice == "plain":
            layers.append(draw(_SIZE_KEEPING))
        elif choice == "spatial":
            layers.append(draw(_spatial_layer(rank)))
        elif choice == "global" and not draw(st.integers(0, 3)):
            layers.append({"kind": draw(st.sampled_from(["globalavgpool", "globalmaxpool"]))})
        elif choice == "block" and depth < 2:
            layers.append(draw(_block(rank, depth + 1)))
        else:
            layers.append(draw(_SIZE_KEEPING))
    return layers


@st.composite
def _block(draw, rank: int, depth: int) -> dict:
    if draw(st.booleans()):
        block = {"kind": "residual", "body": draw(_nested_stack(rank, depth, 1, 3)),
                 "activation": draw(_ACTIVATION_NAMES)}
        if draw(st.booleans()):
            block["shortcut"] = draw(_nested_stack(rank, depth, 1, 2))
        return block
    return {"kind": "concat",
            "branches": [draw(_nested_stack(rank, depth, 0, 2)) for _ in range(draw(st.integers(1, 3)))]}


@st.composite
def nested_designs(draw) -> Design:
    """Designs with residual and concat blocks, nested up to two deep (a residual inside a branch...)."""
    rank = draw(st.sampled_from([2, 2, 3]))
    spec = {"channels": draw(st.integers(1, 4)), "height": draw(st.integers(1, 12)),
            "width": draw(st.integers(1, 12))}
    if rank == 3:
        spec["depth"] = draw(st.integers(1, 6))
    layers = [draw(_block(rank, 1))]
    layers += draw(_nested_stack(rank, 0, 0, 3))
    if draw(st.booleans()):
        layers.insert(draw(st.integers(0, len(layers))), draw(_block(rank, 1)))
    if draw(st.booleans()):
        layers += [{"kind": "flatten"}, {"kind": "linear", "out_features": draw(st.integers(1, 5))}]
    return Design.model_validate({"input": spec, "layers": layers})


def _check_nested_against_torch(design: Design, report: DesignReport) -> tuple | None:
    """Every record the engine gives before PyTorch's first refusal agrees with PyTorch; same failure."""
    seen, torch_failure = _nested_oracle(design)
    assert _engine_failure(report) == torch_failure, (
        f"first error: engine at {_engine_failure(report)}, PyTorch at {torch_failure}; {report.first_error()}")
    for entry in report.walk():
        expected = seen.get(entry.path)
        if expected is None:
            continue  # at or after the failure: PyTorch never got there
        record = entry.record
        assert record.problem is None, f"{entry.location}: engine refuses, PyTorch does not: {record.error}"
        assert record.output_shape == expected.output_shape, f"{entry.location} output"
        assert record.params == expected.params, f"{entry.location} parameters"
        assert record.macs == expected.macs, f"{entry.location} multiply-accumulates"
    return torch_failure


def _apply_fix_at(data: list[dict], path: tuple, fix) -> tuple:
    """Apply ``fix`` to the layer at ``path`` in nested design data; where that layer is afterwards."""
    stack = data
    for position in range(0, len(path) - 1, 2):
        layer = stack[path[position]]
        part = path[position + 1]
        stack = layer["branches"][int(part.split(".")[1])] if part.startswith("branches.") else layer.setdefault(part, [])
    index = path[-1]
    if fix.changes:
        stack[index] = {**stack[index], **fix.changes}
    if fix.insert_before:
        stack.insert(index, dict(fix.insert_before))
        return path[:-1] + (index + 1,)
    return path


def _check_nested_fixes(design: Design, report: DesignReport) -> None:
    """Each fix offered, applied where its path says, leaves the failing layer (or block) without a problem."""
    for result in report.problems:
        failing = (result.index,) + result.problem.path
        for fix in result.problem.fixes:
            data = design.model_dump(exclude_none=True)
            target = (result.index,) + fix.path
            moved = _apply_fix_at(data["layers"], target, fix)
            if moved != target and failing[:len(target)] == target:
                failing = moved + failing[len(target):]
            fixed = infer_shapes(Design.model_validate(data)).find(failing)
            if fix.changes and "kind" in fix.changes:
                assert fixed.problem is None or fixed.problem.field != "kind", fixed.error
            elif result.kind == "concat" and not result.problem.path and fixed.problem is not None:
                # A concat with several branches at fault: the fix repairs the branch named first.
                named = result.problem.message.split(" gives ")[0]
                assert not fixed.problem.message.startswith(f"{named} gives"), fixed.error
            else:
                assert fixed.problem is None, f"{result.where}: fix {fix.description!r} leaves: {fixed.error}"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_designs())
def test_nested_designs_agree_with_pytorch(design: Design) -> None:
    report = infer_shapes(design)
    failure = _check_nested_against_torch(design, report)
    event("valid" if failure is None else ("fails inside a block" if len(failure) > 1 else "fails at top level"))
    _check_built_model(design, report)
    _check_nested_fixes(design, report)
    if report.valid:
        model = build_model(design, device="meta")
        assert sum(p.numel() for p in model.parameters()) == report.total_params


# --- a well-known architecture -----------------------------------------------------------------

def _resnet18_design() -> Design:
    """ResNet-18 for ImageNet (He et al. 2016) written as a design file: basic blocks, projection shortcuts."""
    def conv(channels, kernel, stride=1, padding=0):
        return {"kind": "conv2d", "out_channels": channels, "kernel_size": kernel, "stride": stride,
                "padding": padding, "bias": False, "activation": "none"}

    def basic_block(channels, stride, in_channels):
        block = {"kind": "residual", "body": [conv(channels, 3, stride, 1), {"kind": "batchnorm"},
                                              {"kind": "activation"}, conv(channels, 3, 1, 1), {"kind": "batchnorm"}]}
        if stride != 1 or in_channels != channels:
            block["shortcut"] = [conv(channels, 1, stride), {"kind": "batchnorm"}]
        return block

    layers = [conv(64, 7, 2, 3), {"kind": "batchnorm"}, {"kind": "activation"},
              {"kind": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1}]
    in_channels = 64
    for channels, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [basic_block(channels, stride, in_channels), basic_block(channels, 1, channels)]
        in_channels = channels
    layers += [{"kind": "globalavgpool"}, {"kind": "flatten"}, {"kind": "linear", "out_features": 1000,
                                                                "activation": "none"}]
    return Design.model_validate({"name": "ResNet-18", "input": {"channels": 3, "height": 224, "width": 224},
                                  "layers": layers})


def test_resnet18_as_a_design_is_torchvisions_resnet18():
    torchvision = pytest.importorskip("torchvision")
    design = _resnet18_design()
    report = infer_shapes(design)
    assert report.valid and report.output_shape == (1000,)
    with torch.device("meta"):
        reference = torchvision.models.resnet18(num_classes=1000)
    model = build_model(design, device="meta")
    assert report.total_params == sum(p.numel() for p in reference.parameters())  # 11,689,512
    # The same tensors in the same order: torchvision's weights load into the design's model.
    ours, theirs = model.state_dict(), reference.state_dict()
    assert [tensor.shape for tensor in ours.values()] == [tensor.shape for tensor in theirs.values()]
    stage_ends = [layer.output_shape for layer in report.layers if layer.kind == "residual"][1::2]
    assert stage_ends == [(64, 56, 56), (128, 28, 28), (256, 14, 14), (512, 7, 7)]
