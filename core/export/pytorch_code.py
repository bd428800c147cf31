"""A design as a standalone, readable PyTorch file: only ``torch`` is imported.

The generated ``class <Name>Net(nn.Module)`` has one attribute per module the
builder makes, with the builder's names (``conv1``, ``conv1_relu``, ``bn1``,
``fc1`` ...), so its ``state_dict`` keys are exactly those of the app's model
and a run's weights load unchanged. ``forward`` is one operation per line, each
commented with the output shape per sample and, for convolutions and pooling,
the size formula with the design's numbers.
"""

from __future__ import annotations

import inspect
import io
import keyword
import math
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from convstudio.core import __version__
from convstudio.core.atomic import atomic_write_bytes, atomic_write_text
from convstudio.core.block_modules import ConcatBlock, ResidualBlock
from convstudio.core.design import Design
from convstudio.core.export.common import ExportError, ExportResult, output_file, shapes_only_model
from convstudio.core.report_text import layer_formula
from convstudio.core.shape_records import format_shape
from convstudio.core.shapes import infer_shapes

# Activations the builder makes with PyTorch's defaults: rendered as ``nn.ReLU()`` etc.
_NO_ARGUMENT_MODULES = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.ELU, nn.GELU, nn.Identity, nn.Flatten)
_AXES_NAMES = {3: "channels x height x width", 4: "channels x depth x height x width"}


def source_class_name(design: Design) -> str:
    """The generated class's name: the design's name in CamelCase ending in ``Net``.

    Notes in parentheses are left out: "LeNet-5 (28x28 grey)" gives ``LeNet5Net``.
    """
    words = re.findall(r"[^\W_]+", re.sub(r"\([^)]*\)", " ", design.name)) or re.findall(r"[^\W_]+", design.name)
    name = "".join(word[0].upper() + word[1:] for word in words)
    if not name or name[0].isdigit():
        name = "Design" + name
    if not name.isidentifier():
        name = "Design"
    return name if name.endswith("Net") else name + "Net"


def _setting(values) -> str:
    """A per-axis tuple as one int when all axes agree: ``kernel_size=3`` reads better than ``(3, 3)``."""
    values = tuple(values) if isinstance(values, (tuple, list)) else (values,)
    return str(values[0]) if len(set(values)) == 1 else str(values)


def _uniform(values, number: int) -> bool:
    values = tuple(values) if isinstance(values, (tuple, list)) else (values,)
    return all(value == number for value in values)


def module_source(module: nn.Module) -> str:
    """The constructor call that rebuilds ``module``, leaving out PyTorch's defaults."""
    kind = type(module).__name__
    if isinstance(module, (nn.Conv2d, nn.Conv3d)):
        parts = [str(module.in_channels), str(module.out_channels), f"kernel_size={_setting(module.kernel_size)}"]
        if not _uniform(module.stride, 1):
            parts.append(f"stride={_setting(module.stride)}")
        if not _uniform(module.padding, 0):
            parts.append(f"padding={_setting(module.padding)}")
        if module.bias is None:
            parts.append("bias=False")
        return f"nn.{kind}({', '.join(parts)})"
    if isinstance(module, (nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool2d, nn.AvgPool3d)):
        parts = [f"kernel_size={_setting(module.kernel_size)}"]
        if _setting(module.stride) != _setting(module.kernel_size):  # PyTorch's default stride is the kernel
            parts.append(f"stride={_setting(module.stride)}")
        if not _uniform(module.padding, 0):
            parts.append(f"padding={_setting(module.padding)}")
        return f"nn.{kind}({', '.join(parts)})"
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
        parts = [str(module.num_features)]
        if module.eps != 1e-5:
            parts.append(f"eps={module.eps!r}")
        if module.momentum != 0.1:
            parts.append(f"momentum={module.momentum!r}")
        return f"nn.{kind}({', '.join(parts)})"
    if isinstance(module, nn.Linear):
        bias = "" if module.bias is not None else ", bias=False"
        return f"nn.Linear({module.in_features}, {module.out_features}{bias})"
    if isinstance(module, nn.Dropout):
        return f"nn.Dropout(p={module.p!r})"
    if isinstance(module, nn.Softmax):
        return f"nn.Softmax(dim={module.dim})"
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
        return f"nn.{kind}({module.output_size!r})"
    if isinstance(module, _NO_ARGUMENT_MODULES) and repr(module) == repr(type(module)()):
        return f"nn.{kind}()"
    raise ExportError(f"no source form for the module {module!r}")  # the builder makes none other


# The classes a design's blocks become, written into the file (when the design has blocks) from their
# own source in core.block_modules: one definition, and state_dict keys that match the app's model.
_BLOCK_CLASSES = (ResidualBlock, ConcatBlock)


def _sequential_source(sequential: nn.Module, indent: str) -> list[str]:
    """``nn.Sequential(OrderedDict(conv1=..., bn1=...))`` over several lines, ending without a comma."""
    children = list(sequential.named_children())
    if not children:
        return ["nn.Sequential()"]
    lines = ["nn.Sequential(OrderedDict("]
    for name, child in children:
        if keyword.iskeyword(name):
            raise ExportError(f"the module name {name!r} is a Python keyword and cannot be an attribute "
                              "in source code; rename that layer")
        inner = _constructor_lines(child, indent + "    ")
        lines.append(f"{indent}    {name}={inner[0]}")
        lines += inner[1:]
        lines[-1] += ","
    lines.append(f"{indent}))")
    return lines


def _constructor_lines(module: nn.Module, indent: str) -> list[str]:
    """The constructor call that rebuilds ``module``: one line, or several for a block (first unindented)."""
    if isinstance(module, ResidualBlock):
        lines = ["ResidualBlock("]
        for field, child in (("body", module.body), ("shortcut", module.shortcut)):
            inner = _sequential_source(child, indent + "    ")
            lines.append(f"{indent}    {field}={inner[0]}")
            lines += inner[1:]
            lines[-1] += ","
        lines.append(f"{indent}    activation={module_source(module.activation)},")
        return lines + [f"{indent})"]
    if isinstance(module, ConcatBlock):
        lines = ["ConcatBlock(["]
        for branch in module.branches:
            inner = _sequential_source(branch, indent + "    ")
            lines.append(f"{indent}    {inner[0]}")
            lines += inner[1:]
            lines[-1] += ","
        return lines + [f"{indent}])"]
    return [module_source(module)]


def _docstring_text(text: str) -> str:
    """Text that can sit inside a triple-quoted string."""
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


# Longer lines put the formula on a comment line of its own above the operation.
_MAX_LINE = 110


def _forward_lines(design: Design, model: nn.Module) -> list[tuple[str, str, str]]:
    """``(code, shape, formula)`` per module in order, e.g. ``x = self.conv1(x)``, ``64x33x33``, eq. (14)."""
    report = infer_shapes(design)
    modules = dict(model.named_children())
    x = torch.empty(2, *design.input.shape, device="meta")  # the real modules compute every shape
    lines = []
    for layer, names in zip(report.layers, model.layer_modules):
        formula = layer.merge_text or layer_formula(layer)
        for name in names:
            x = modules[name](x)
            lines.append((f"x = self.{name}(x)", format_shape(tuple(x.shape[1:])),
                          formula if name == layer.name else ""))
    return lines


def _method(lines: list[tuple[str, str, str]], indent: str = "        ") -> list[str]:
    """One operation per line with its shape as a trailing comment, aligned."""
    if not lines:
        return []
    width = max(len(code) for code, _, _ in lines)
    shape_width = max(len(shape) for _, shape, _ in lines)
    text = []
    for code, shape, formula in lines:
        line = f"{indent}{code.ljust(width)}  # {shape}"
        if formula and len(line) + len(formula) + 2 + shape_width - len(shape) <= _MAX_LINE:
            line = f"{line.ljust(len(indent) + width + 4 + shape_width)}  {formula}"
        elif formula:
            text.append(f"{indent}# {formula}")
        text.append(line)
    return text


def _module_docstring(design: Design, class_name: str, ends_with_softmax: bool) -> list[str]:
    report = infer_shapes(design)
    shape = design.input.shape
    outputs = " (class probabilities; logits() gives the scores before softmax)" if ends_with_softmax else ""
    lines = [f'"""{_docstring_text(design.name)}: a standalone PyTorch module exported by ConvStudio {__version__}.', ""]
    if design.description:
        lines += [textwrap.fill(_docstring_text(design.description), 88), ""]
    return lines + [
        f"Input: float32 batches of shape (batch, {', '.join(map(str, shape))}) ({_AXES_NAMES[len(shape)]}).",
        f"Output: {format_shape(report.output_shape)} per sample{outputs}.",
        f"Parameters: {report.total_params:,}.",
        "",
        "Module names match ConvStudio's, so its weights load unchanged: ``load(path)``",
        "reads a state_dict saved with torch.save, or a run's best.pt / checkpoint.pt.",
        "Comments give each output's shape per sample and the lecture's size formula.",
        "",
        f"    model = load('weights.pt')  # or {class_name}() for fresh random weights",
        f"    {'probabilities' if ends_with_softmax else 'outputs'} = model(images)",
        '"""',
    ]


def _methods(forward: list[tuple[str, str, str]], ends_with_softmax: bool) -> list[str]:
    if not ends_with_softmax:
        return ["    def forward(self, x: torch.Tensor) -> torch.Tensor:", *_method(forward), "        return x"]
    # Training and most losses want the scores before softmax, as DesignNet.logits gives them.
    return [
        "    def logits(self, x: torch.Tensor) -> torch.Tensor:",
        '        """The output before the final softmax (what cross-entropy expects)."""',
        *_method(forward[:-1]),
        "        return x",
        "",
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:",
        "        x = self.logits(x)",
        *_method(forward[-1:]),
        "        return x",
    ]


def _load_function(class_name: str) -> list[str]:
    return [
        f"def load(path, map_location='cpu') -> {class_name}:",
        f'    """A {class_name} with the weights in ``path`` (a state_dict or a ConvStudio checkpoint), in eval mode."""',
        "    state = torch.load(path, map_location=map_location, weights_only=True)",
        "    if isinstance(state.get('model'), dict):  # a ConvStudio checkpoint: weights under 'model'",
        "        state = state['model']",
        f"    model = {class_name}()",
        "    model.load_state_dict(state)",
        "    return model.eval()",
    ]


def pytorch_source(design: Design) -> str:
    """The standalone Python source of ``design`` as an ``nn.Module`` (see the module docstring)."""
    model = shapes_only_model(design)
    for name, _ in model.named_children():
        if keyword.iskeyword(name):
            raise ExportError(f"the module name {name!r} is a Python keyword and cannot be an attribute "
                              "in source code; rename that layer")
    class_name = source_class_name(design)
    shape = design.input.shape
    used_blocks = [inspect.getsource(cls) for cls in _BLOCK_CLASSES
                   if any(isinstance(module, cls) for module in model.modules())]
    attributes = []
    for name, module in model.named_children():
        constructor = _constructor_lines(module, "        ")
        attributes.append(f"        self.{name} = {constructor[0]}")
        attributes += constructor[1:]
    lines = [
        *_module_docstring(design, class_name, model.ends_with_softmax),
        "",
        *(["from collections import OrderedDict", ""] if used_blocks else []),
        "import torch",
        "from torch import nn",
        "",
        f"INPUT_SHAPE = {tuple(shape)!r}  # per sample: {_AXES_NAMES[len(shape)]}",
        "",
        "",
        *(line for source in used_blocks for line in (*source.splitlines(), "", "")),
        f"class {class_name}(nn.Module):",
        '    """The design as a plain nn.Module; attribute names are ConvStudio\'s module names."""',
        "",
        "    def __init__(self):",
        "        super().__init__()",
        *attributes,
        "",
        *_methods(_forward_lines(design, model), model.ends_with_softmax),
        "",
        "",
        *_load_function(class_name),
        "",
        "",
        "if __name__ == '__main__':",
        f"    model = {class_name}().eval()",
        "    print(model(torch.randn(2, *INPUT_SHAPE)).shape)",
        "",
    ]
    return "\n".join(lines)


def _check_source(source: str, design: Design, path: Path) -> None:
    """Run the generated class on the meta device: its state_dict must be the builder's, key for key."""
    namespace: dict = {"__name__": "convstudio_export_check"}
    exec(compile(source, str(path), "exec"), namespace)
    with torch.device("meta"):
        generated = namespace[source_class_name(design)]()
    if _state_shapes(generated.state_dict()) != _state_shapes(shapes_only_model(design).state_dict()):
        raise ExportError("internal error: the generated module's state_dict differs from the app's model")


def _state_shapes(state: Mapping[str, torch.Tensor]) -> list[tuple[str, tuple[int, ...]]]:
    return [(key, tuple(value.shape)) for key, value in state.items()]


def export_pytorch_source(design: Design, path: str | Path,
                          weights: Mapping[str, torch.Tensor] | None = None) -> ExportResult:
    """Write ``design`` as a standalone ``.py`` file; with ``weights``, also ``<path stem>.pt`` beside it.

    ``weights`` is a state_dict of the design's model (a run's trained
    weights); the ``.pt`` file holds it as plain tensors for the file's ``load()``.
    Raises ExportError for a design that cannot be built.
    """
    path = output_file(path)
    source = pytorch_source(design)
    if weights is not None and sorted(_state_shapes(weights)) != sorted(
            _state_shapes(shapes_only_model(design).state_dict())):
        raise ExportError(f"the weights do not fit the design {design.name!r}: their names or shapes differ")
    _check_source(source, design, path)
    atomic_write_text(path, source)
    class_name = source_class_name(design)
    if weights is None:
        return ExportResult((path,), f"wrote {path}: class {class_name}, PyTorch source (no weights)")
    weights_path = path.with_suffix(".pt") if path.suffix == ".py" else path.with_name(path.name + ".pt")
    buffer = io.BytesIO()
    torch.save({key: value.detach().cpu() for key, value in weights.items()}, buffer)
    atomic_write_bytes(weights_path, buffer.getvalue())
    count = sum(math.prod(value.shape) for value in weights.values())
    return ExportResult(
        (path, weights_path),
        f"wrote {path}: class {class_name}, PyTorch source; and {weights_path}: its weights "
        f"({len(weights)} tensors, {count:,} values), loaded by load({weights_path.name!r})",
    )
