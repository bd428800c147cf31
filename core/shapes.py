"""The shape engine: every layer's output size by the lecture's formulas.

Pure Python, no PyTorch: :func:`infer_shapes` walks a design once and reports
each layer's input and output shape, parameter and multiply-accumulate counts,
the formula with the user's numbers, and for an impossible layer the reason and
concrete fixes. It agrees with PyTorch exactly, including where PyTorch refuses
(``tests/test_shapes_agree_with_pytorch.py`` proves it over generated designs).

After a failing layer, later layers are still checked with what is known: the
channel count usually survives, so parameter counts and rank errors below the
failure are still reported.
"""

from __future__ import annotations

import math
from operator import attrgetter

from convstudio.core.design import Design
from convstudio.core.layers import (
    AvgPool3d, Concat, Conv2d, Conv3d, LayerBase, Linear, Residual, _GlobalPooling, _Pooling, _SpatialLayer,
)
from convstudio.core.naming import layer_names
from convstudio.core.shape_records import (
    AxisFormula, DesignReport, LayerFix, LayerShape, Shape, ShapeProblem, format_shape,
)
from convstudio.core.shape_blocks import block_result

_AXES = {2: ("height", "width"), 3: ("depth", "height", "width")}
_NAME, _PARAMS, _MACS = (attrgetter(field) for field in ("name", "params", "macs"))


def _describe_input(shape: Shape) -> str:
    if len(shape) == 1:
        return f"a flat vector of {format_shape(shape)} values"
    if len(shape) == 3:
        return f"images {format_shape(shape)} (channels x height x width)"
    return f"volumes {format_shape(shape)} (channels x depth x height x width)"


def _as_setting(values: tuple[int, ...]) -> int | list[int]:
    """Per-axis values as the design file writes them: one int when all agree."""
    return values[0] if len(set(values)) == 1 else list(values)


def _rank_problem(layer: _SpatialLayer, shape: Shape) -> ShapeProblem | None:
    """A 2-D layer on volumes, a 3-D layer on images, or either on a flat vector."""
    rank = layer.spatial_rank
    if len(shape) == rank + 1:
        return None
    if len(shape) == 1:
        return ShapeProblem(
            f"needs feature maps but receives {_describe_input(shape)}; "
            "move it above the Flatten, or remove the Flatten"
        )
    other_kind = layer.kind.replace("3d", "2d") if rank == 3 else layer.kind.replace("2d", "3d")
    needs = "volumes (channels x depth x height x width)" if rank == 3 else "images (channels x height x width)"
    hint = "set the input's depth for 3-D data" if rank == 3 else "remove the input's depth for 2-D data"
    spread_over_axes = all(
        isinstance(getattr(layer, field, 0), (int, type(None))) for field in ("kernel_size", "stride", "padding")
    )
    fixes = (LayerFix(f"use {other_kind}", changes={"kind": other_kind}),) if spread_over_axes else ()
    return ShapeProblem(f"needs {needs} but receives {_describe_input(shape)}; {hint}", "kind", fixes)


def _too_small_problem(
    layer: _SpatialLayer, formulas: list[AxisFormula], shape: Shape, failing: list[AxisFormula]
) -> ShapeProblem:
    """The kernel is larger than the padded input on some axis."""
    first = failing[0]
    message = (
        f"kernel {first.kernel} is larger than the padded input {first.axis} "
        f"{first.size_in} + 2*{first.padding} = {first.size_in + 2 * first.padding} "
        f"(eq. ({first.equation}) gives {first.text})"
    )
    fits = tuple(min(f.kernel, f.size_in + 2 * f.padding) for f in formulas)
    fixes = [LayerFix(f"kernel at most {_as_setting(fits)}", changes={"kernel_size": _as_setting(fits)})]
    sizes_in = tuple(f.size_in for f in formulas)
    is_pooling = isinstance(layer, _Pooling)
    keeps_size = all(f.stride == 1 and f.kernel % 2 == 1 for f in formulas) and not is_pooling
    if keeps_size:
        padding = tuple((f.kernel - 1) // 2 for f in formulas)
        kept = "x".join(str(size) for size in sizes_in)
        fixes.append(LayerFix(f"padding {_as_setting(padding)} keeps {kept}", changes={"padding": _as_setting(padding)}))
    elif not is_pooling:
        padding = tuple(max(f.padding, math.ceil((f.kernel - f.size_in) / 2)) for f in formulas)
        fixes.append(LayerFix(f"padding {_as_setting(padding)} makes it fit", changes={"padding": _as_setting(padding)}))
    return ShapeProblem(message, "kernel_size", tuple(fixes))


def _unpadded_too_small_problem(
    kernel: tuple[int, ...], padding: tuple[int, ...], shape: Shape
) -> ShapeProblem | None:
    """PyTorch's 3-D average pooling also needs the unpadded input to be at least the kernel."""
    sizes = shape[1:]
    if None in sizes or all(k <= d for k, d in zip(kernel, sizes)):
        return None
    axis, k, d = next((a, k, d) for a, k, d in zip(_AXES[3], kernel, sizes) if k > d)
    fits = tuple(min(k, d) for k, d in zip(kernel, sizes))
    # A smaller kernel may also need less padding (at most half the kernel).
    fitting_padding = tuple(min(p, k // 2) for p, k in zip(padding, fits))
    changes = {"kernel_size": _as_setting(fits)}
    description = f"kernel at most {_as_setting(fits)}"
    if fitting_padding != padding:
        changes["padding"] = _as_setting(fitting_padding)
        description += f" with padding {_as_setting(fitting_padding)}"
    return ShapeProblem(
        f"kernel {k} is larger than the input {axis} {d} (PyTorch's 3-D average pooling "
        "needs the input, before padding, to be at least the kernel on every axis)",
        "kernel_size",
        (LayerFix(description, changes=changes),),
    )


def _pool_padding_fix(
    layer: _Pooling, kernel: tuple[int, ...], padding: tuple[int, ...], shape: Shape
) -> LayerFix:
    """Padding of at most half the kernel; with a smaller kernel too where less padding no longer fits it."""
    fixed = tuple(min(p, k // 2) for p, k in zip(padding, kernel))
    sizes = shape[1:]
    if None in sizes:
        return LayerFix(f"padding {_as_setting(fixed)}", changes={"padding": _as_setting(fixed)})
    if isinstance(layer, AvgPool3d):
        fits = tuple(min(k, d) for k, d in zip(kernel, sizes))
    else:
        fits = tuple(min(k, d + 2 * p) for k, d, p in zip(kernel, sizes, fixed))
    if fits == kernel:
        return LayerFix(f"padding {_as_setting(fixed)}", changes={"padding": _as_setting(fixed)})
    fixed = tuple(min(p, k // 2) for p, k in zip(fixed, fits))
    return LayerFix(
        f"padding {_as_setting(fixed)} with kernel at most {_as_setting(fits)}",
        changes={"padding": _as_setting(fixed), "kernel_size": _as_setting(fits)},
    )


def _spatial_layer(layer: _SpatialLayer, shape: Shape):
    """Output shape, formulas and problem of a convolution or pooling layer."""
    problem = _rank_problem(layer, shape)
    if problem is not None:
        channels = layer.out_channels if isinstance(layer, (Conv2d, Conv3d)) else None
        return None, (), problem, channels
    rank = layer.spatial_rank
    kernel = layer.axis_values("kernel_size", rank)
    stride = layer.axis_values("stride", rank)
    padding = layer.axis_values("padding", rank)
    pooling = isinstance(layer, _Pooling)
    channels_out = shape[0] if pooling else layer.out_channels
    if pooling:
        too_much = [(p, k) for p, k in zip(padding, kernel) if 2 * p > k]
        if too_much:
            p, k = too_much[0]
            return (channels_out,) + (None,) * rank, (), ShapeProblem(
                f"padding {p} is more than half the kernel {k} (PyTorch allows at most {k // 2})",
                "padding",
                (_pool_padding_fix(layer, kernel, padding, shape),),
            ), channels_out
    if isinstance(layer, AvgPool3d):
        problem = _unpadded_too_small_problem(kernel, padding, shape)
        if problem is not None:
            return (channels_out,) + (None,) * rank, (), problem, channels_out
    formulas = []
    sizes = []
    for axis, d, k, s, p in zip(_AXES[rank], shape[1:], kernel, stride, padding):
        if d is None:
            sizes.append(None)
            continue
        formula = AxisFormula(axis, d, k, s, p, pooling)
        formulas.append(formula)
        sizes.append(formula.size_out)
    failing = [f for f in formulas if f.span < 0]
    if failing:
        return (channels_out,) + (None,) * rank, tuple(formulas), _too_small_problem(
            layer, formulas, shape, failing
        ), channels_out
    return (channels_out, *sizes), tuple(formulas), None, channels_out


def _layer_result(layer: LayerBase, index: int, name: str, shape: Shape | None) -> LayerShape:
    """Check one layer against its input shape (None: unknown after an earlier failure)."""
    kind = layer.kind
    if shape is None:
        # Nothing is known of the input; say what can be said without it.
        if isinstance(layer, (Residual, Concat)):
            return block_result(layer, index, name, shape, check_stack)
        if isinstance(layer, Linear):
            return LayerShape(index, kind, name, None, (layer.out_features,), None, None)
        return LayerShape(index, kind, name, None, None, None, None)

    if isinstance(layer, _SpatialLayer):
        output, formulas, problem, channels_out = _spatial_layer(layer, shape)
        params = macs = 0
        if isinstance(layer, (Conv2d, Conv3d)):
            channels_in = shape[0]
            rank = layer.spatial_rank
            kernel = layer.axis_values("kernel_size", rank)
            if channels_in is None or len(shape) == 1:  # unknown, or a flat vector it cannot take
                params = macs = None
            else:
                weights = layer.out_channels * channels_in * math.prod(kernel)
                params = weights + (layer.out_channels if layer.bias else 0)
                positions = DesignReport.count_values(output[1:]) if output is not None else 0
                macs = positions * weights if output is not None and None not in output else None
        return LayerShape(index, kind, name, shape, output, params, macs, formulas, problem)

    if isinstance(layer, (Residual, Concat)):
        return block_result(layer, index, name, shape, check_stack)

    if isinstance(layer, _GlobalPooling):
        if len(shape) == 1:
            return LayerShape(index, kind, name, shape, None, 0, 0, (), ShapeProblem(
                f"needs feature maps but receives {_describe_input(shape)}; "
                "move it above the Flatten, or remove the Flatten"))
        return LayerShape(index, kind, name, shape, (shape[0],) + (1,) * (len(shape) - 1), 0, 0)

    if kind == "flatten":
        values = None if None in shape else math.prod(shape)
        return LayerShape(index, kind, name, shape, (values,), 0, 0)

    if isinstance(layer, Linear):
        if len(shape) > 1 and not layer.flatten_input:
            features = None if None in shape else math.prod(shape)
            count = f"{features} " if features is not None else ""
            problem = ShapeProblem(
                f"needs a flat vector but receives {_describe_input(shape)}; "
                f"insert a Flatten before it to give it {count}features",
                None,
                (
                    LayerFix("insert a Flatten before it", insert_before={"kind": "flatten"}),
                    LayerFix("let it flatten its input", changes={"flatten_input": True}),
                ),
            )
            return LayerShape(index, kind, name, shape, (layer.out_features,), None, None, (), problem)
        features = None if None in shape else math.prod(shape)
        if features is None:
            return LayerShape(index, kind, name, shape, (layer.out_features,), None, None)
        weights = features * layer.out_features
        params = weights + (layer.out_features if layer.bias else 0)
        return LayerShape(index, kind, name, shape, (layer.out_features,), params, weights)

    if kind == "batchnorm":
        channels = shape[0]
        return LayerShape(index, kind, name, shape, shape, None if channels is None else 2 * channels, 0)

    # dropout, activation, softmax: the shape passes through unchanged.
    return LayerShape(index, kind, name, shape, shape, 0, 0)


def check_stack(layers: list[LayerBase], shape: Shape | None) -> tuple[tuple[LayerShape, ...], Shape | None]:
    """Check one stack of layers (a block's body, shortcut or branch) receiving ``shape``.

    Returns each layer's result and the stack's output (``shape`` itself for an empty stack).
    """
    results = []
    for index, (layer, name) in enumerate(zip(layers, layer_names(layers))):
        result = _layer_result(layer, index, name, shape)
        results.append(result)
        shape = result.output_shape
    return tuple(results), shape


def _stored_values(result: LayerShape) -> int:
    """Floats a layer stores per sample: its output, and for a block every inner layer's output too."""
    values = DesignReport.count_values(result.output_shape)
    for stack in result.stacks:
        values += sum(map(_stored_values, stack.layers))
    return values


def infer_shapes(design: Design) -> DesignReport:
    """Check every layer of ``design`` and report shapes, counts, formulas and problems."""
    shape: Shape | None = design.input.shape
    names = layer_names(design.layers)
    results = []
    problems = []
    total_params = total_macs = 0
    activation_values = DesignReport.count_values(shape)
    for index, (layer, name) in enumerate(zip(design.layers, names)):
        result = _layer_result(layer, index, name, shape)
        results.append(result)
        if result.problem is not None:
            problems.append(result)
        total_params += result.params or 0
        total_macs += result.macs or 0
        activation_values += _stored_values(result) if result.stacks else DesignReport.count_values(
            result.output_shape)
        shape = result.output_shape
    return DesignReport(
        design.input.shape, tuple(results), total_params, total_macs, activation_values, tuple(problems)
    )


def recheck(design: Design, earlier: Design, earlier_report: DesignReport) -> DesignReport:
    """The same report as ``infer_shapes(design)``, reusing what ``earlier_report`` says of ``earlier``.

    A layer's result depends only on the layer, its position, its name and the
    shape it receives (:func:`_layer_result`). Edits (``core.editing``) return a
    new design that keeps the layer objects they did not touch, and layers are
    never changed in place, so a layer of ``design`` that is the very object it
    was in ``earlier`` and receives the same shape keeps its result, given its
    new position and name. Only the edited layers and those whose input changed
    are checked again: after a change in the middle of a long design, a
    fraction of the work. ``tests/test_shapes_incremental.py`` checks that the
    report equals :func:`infer_shapes`'s over random edits.
    """
    old_layers, old_results = earlier.layers, earlier_report.layers
    if len(old_results) != len(old_layers):
        return infer_shapes(design)  # not the report of ``earlier``
    layers = design.layers
    names = layer_names(layers)
    # The layers before the first one the edit touched keep their results as they are: the same
    # objects in the same places, with the same names, after the same input.
    kept = 0
    if design.input.shape == earlier.input.shape:
        limit = min(len(layers), len(old_layers))
        while kept < limit and layers[kept] is old_layers[kept]:
            kept += 1
        old_names = list(map(_NAME, old_results[:kept]))
        if names[:kept] != old_names:
            kept = next(index for index, (new, old) in enumerate(zip(names, old_names)) if new != old)
    results = list(old_results[:kept])
    problems = [result for result in earlier_report.problems if result.index < kept]
    total_params = sum(filter(None, map(_PARAMS, results)))
    total_macs = sum(filter(None, map(_MACS, results)))
    count_values = DesignReport.count_values
    activation_values = count_values(design.input.shape) + sum(map(_stored_values, results))
    shape: Shape | None = results[-1].output_shape if results else design.input.shape
    position = {id(layer): index for index, layer in enumerate(old_layers)}
    for index in range(kept, len(layers)):
        layer, name = layers[index], names[index]
        old_index = position.get(id(layer))
        old = old_results[old_index] if old_index is not None and old_layers[old_index] is layer else None
        if old is None or old.input_shape != shape:
            result = _layer_result(layer, index, name, shape)
        elif old.index == index and old.name == name:
            result = old
        else:  # moved or renamed (its kind's counter changed): the same result at its new place
            result = LayerShape(index, old.kind, name, old.input_shape, old.output_shape, old.params, old.macs,
                                old.formulas, old.problem, old.stacks, old.merge)
        results.append(result)
        # The rest of the loop is infer_shapes' own (kept apart so that the baseline stays as it is).
        if result.problem is not None:
            problems.append(result)
        total_params += result.params or 0
        total_macs += result.macs or 0
        shape = result.output_shape
        activation_values += _stored_values(result) if result.stacks else count_values(shape)
    return DesignReport(
        design.input.shape, tuple(results), total_params, total_macs, activation_values, tuple(problems)
    )
