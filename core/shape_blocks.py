"""The shape engine's rules for blocks: residual sums and concatenations.

A block checks each of its stacks with the engine's own stack check, then its
merge: a residual block adds ``body(x)`` and ``shortcut(x)``, so both must give
the same shape; a concat block joins its branches along channels, so they must
agree in every other size. An impossible merge is explained with the side at
fault and a fix that makes it possible (checked by applying it), such as a 1x1
convolution on the shortcut or a padding in the branch that differs.

A problem inside a block is also carried by the block itself, with its path
(``ShapeProblem.path``), so that a design's problems stay one per top-level layer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from convstudio.core.layers import Concat, LayerBase, Residual, _Pooling, _SpatialLayer
from convstudio.core.shape_records import LayerFix, LayerShape, Shape, ShapeProblem, StackShape, format_shape

StackCheck = Callable[[list[LayerBase], "Shape | None"], tuple[tuple[LayerShape, ...], "Shape | None"]]


def _known(shape: Shape | None) -> bool:
    return shape is not None and None not in shape


def _disagree(first: Shape | None, second: Shape | None, axes: slice = slice(None)) -> bool:
    """True when the shapes certainly differ on ``axes``: another rank, or two known sizes apart."""
    if first is None or second is None:
        return False
    if len(first) != len(second):
        return True
    return any(a is not None and b is not None and a != b for a, b in zip(first[axes], second[axes]))


def _stack(part: str, layers: list[LayerBase], shape: Shape | None, check_stack: StackCheck) -> StackShape:
    results, output = check_stack(layers, shape)
    return StackShape(part, shape, output, results)


def _inner_problem(stacks: tuple[StackShape, ...]) -> ShapeProblem | None:
    """The first problem inside the stacks, as the block carries it (with its path)."""
    for stack in stacks:
        for result in stack.layers:
            if result.problem is not None:
                return result.problem.moved_under((stack.part, result.index))
    return None


def _totals(stacks: tuple[StackShape, ...], shape: Shape | None) -> tuple[int | None, int | None]:
    if shape is None:
        return None, None
    params = macs = 0
    for stack in stacks:
        for result in stack.layers:
            params += result.params or 0
            macs += result.macs or 0
    return params, macs


def block_result(layer: LayerBase, index: int, name: str, shape: Shape | None,
                 check_stack: StackCheck) -> LayerShape:
    """Check a residual or concat block receiving ``shape`` (None: unknown)."""
    if isinstance(layer, Residual):
        return _residual(layer, index, name, shape, check_stack)
    assert isinstance(layer, Concat)
    return _concat(layer, index, name, shape, check_stack)


# --- residual --------------------------------------------------------------------------------


def _projection_settings(size_in: int, size_out: int) -> tuple[int, int] | None:
    """(stride, padding) of a 1x1 convolution taking ``size_in`` to ``size_out`` on one axis."""
    for padding in range(0, max(size_out - size_in, 0) // 2 + 1):
        for stride in range(1, size_in + 2 * padding + 1):
            if (size_in - 1 + 2 * padding) // stride + 1 == size_out:
                return stride, padding
    return None


def _shortcut_fix(shape: Shape | None, body_out: Shape | None) -> LayerFix | None:
    """A shortcut that gives the body's shape from the block's input: a 1x1 convolution and batch norm."""
    if not _known(shape) or not _known(body_out):
        return None
    if len(body_out) == 1:  # a flat body: a linear projection of the (flattened) input
        linear = {"kind": "linear", "out_features": body_out[0], "bias": False, "activation": "none"}
        if len(shape) > 1:
            linear["flatten_input"] = True
        return LayerFix(f"shortcut: a linear layer with {body_out[0]} outputs makes them agree",
                        changes={"shortcut": [linear]})
    if len(shape) != len(body_out):
        return None
    settings = [_projection_settings(d, target) for d, target in zip(shape[1:], body_out[1:])]
    if None in settings:
        return None
    strides = tuple(stride for stride, _ in settings)
    paddings = tuple(padding for _, padding in settings)
    conv = {"kind": "conv2d" if len(shape) == 3 else "conv3d", "out_channels": body_out[0], "kernel_size": 1}
    words = []
    if set(strides) != {1}:
        conv["stride"] = strides[0] if len(set(strides)) == 1 else list(strides)
        words.append(f"stride {conv['stride']}")
    if set(paddings) != {0}:
        conv["padding"] = paddings[0] if len(set(paddings)) == 1 else list(paddings)
        words.append(f"padding {conv['padding']}")
    conv.update({"bias": False, "activation": "none"})
    words.append(f"{body_out[0]} out channels")
    return LayerFix(
        f"shortcut: a {'x'.join('1' * (len(shape) - 1))} convolution with {' and '.join(words)}, "
        "then batch norm, makes them agree",
        changes={"shortcut": [conv, {"kind": "batchnorm"}]},
    )


def _residual(layer: Residual, index: int, name: str, shape: Shape | None,
              check_stack: StackCheck) -> LayerShape:
    body = _stack("body", layer.body, shape, check_stack)
    shortcut = _stack("shortcut", layer.shortcut, shape, check_stack)
    stacks = (body, shortcut)
    shortcut_side = "shortcut" if layer.shortcut else "shortcut (identity)"
    merge = (("body", body.output_shape), (shortcut_side, shortcut.output_shape))
    params, macs = _totals(stacks, shape)
    problem = _inner_problem(stacks)
    output = body.output_shape
    if problem is None and _disagree(body.output_shape, shortcut.output_shape):
        which = "the shortcut" if layer.shortcut else "the identity shortcut"
        fix = _shortcut_fix(shape, body.output_shape)
        message = (f"body gives {format_shape(body.output_shape)}, {which} gives "
                   f"{format_shape(shortcut.output_shape)}: the two are added, so they must have the same shape")
        problem = ShapeProblem(message, "shortcut", (fix,) if fix is not None else ())
        output = None if output is None else output[:1] + (None,) * (len(output) - 1)
    return LayerShape(index, layer.kind, name, shape, output, params, macs, (), problem, stacks, merge)


# --- concat ----------------------------------------------------------------------------------


def _concat_output(outputs: list[Shape | None]) -> Shape | None:
    """Channels added up, the other sizes where all branches agree (None where they do not)."""
    if any(output is None for output in outputs) or len({len(output) for output in outputs}) > 1:
        return None
    channels = None if any(output[0] is None for output in outputs) else sum(output[0] for output in outputs)
    rest = tuple(
        sizes[0] if len(set(sizes)) == 1 else None for sizes in zip(*(output[1:] for output in outputs))
    )
    return (channels, *rest)


_AXIS_WORDS = {2: "size", 3: "height and width", 4: "depth, height and width"}


def _branch_fixes(layer: Concat, branch: int, target: Shape, shape: Shape,
                  check_stack: StackCheck) -> tuple[LayerFix, ...]:
    """Padding or stride changes to one layer of ``branch`` that give it the ``target`` sizes.

    Each candidate is checked with the engine itself, so every fix offered works.
    """
    layers = layer.branches[branch]
    fixes: list[LayerFix] = []
    for position, inner in enumerate(layers):
        if not isinstance(inner, _SpatialLayer):
            continue
        pooling = isinstance(inner, _Pooling)
        kernel = max(inner.axis_values("kernel_size", inner.spatial_rank) or (1,))
        candidates = [{"padding": p} for p in range(0, (kernel // 2 if pooling else kernel) + 1)]
        candidates += [{"stride": s} for s in range(1, 5)]
        candidates += [{"stride": s, "padding": p} for s in range(1, 5) for p in range(0, kernel // 2 + 1)]
        for changes in candidates:
            if all(getattr(inner, field) == value for field, value in changes.items()):
                continue
            try:
                changed = inner.model_validate({**inner.model_dump(), **changes})
            except ValueError:
                continue
            trial = list(layers)
            trial[position] = changed
            results, output = check_stack(trial, shape)
            if any(result.problem for result in results) or output is None or output[1:] != target[1:]:
                continue
            settings = " and ".join(f"{field} {value}" for field, value in changes.items())
            fixes.append(LayerFix(
                f"branch {branch + 1}, layer {position + 1} ({inner.kind}): {settings} gives "
                f"{format_shape(output[1:])}", changes=changes, path=(f"branches.{branch}", position),
            ))
            break
        if len(fixes) == 2:
            break
    return tuple(fixes)


def _concat(layer: Concat, index: int, name: str, shape: Shape | None, check_stack: StackCheck) -> LayerShape:
    stacks = tuple(
        _stack(f"branches.{number}", branch, shape, check_stack) for number, branch in enumerate(layer.branches)
    )
    outputs = [stack.output_shape for stack in stacks]
    merge = tuple((stack.label, stack.output_shape) for stack in stacks)
    params, macs = _totals(stacks, shape)
    problem = _inner_problem(stacks)
    output = _concat_output(outputs)
    if problem is None:
        problem = _merge_problem(layer, stacks, shape, check_stack)
        if problem is not None and output is not None:
            output = output[:1] + (None,) * (len(output) - 1)
    return LayerShape(index, layer.kind, name, shape, output, params, macs, (), problem, stacks, merge)


def _merge_problem(layer: Concat, stacks: tuple[StackShape, ...], shape: Shape | None,
                   check_stack: StackCheck) -> ShapeProblem | None:
    """Branches of another rank, or of other heights or widths, with the branch at fault named."""
    known = [stack for stack in stacks if stack.output_shape is not None]
    if len(known) < 2:
        return None
    # The sizes most branches give are the reference; the first branch that differs is at fault.
    ranks = Counter(len(stack.output_shape) for stack in known)
    rank = max(ranks, key=lambda value: (ranks[value], -min(
        i for i, stack in enumerate(known) if len(stack.output_shape) == value)))
    same_rank = [stack for stack in known if len(stack.output_shape) == rank]
    sizes = Counter(stack.output_shape[1:] for stack in same_rank)
    reference = next(stack for stack in same_rank if sizes[stack.output_shape[1:]] == max(sizes.values()))
    for stack in known:
        if stack is reference:
            continue
        if len(stack.output_shape) != rank:
            return ShapeProblem(
                f"{stack.label} gives {format_shape(stack.output_shape)} but {reference.label} gives "
                f"{format_shape(reference.output_shape)}: branches are joined along channels, so all must give "
                "feature maps of the same kind (or all flat vectors)", "branches")
        if _disagree(stack.output_shape, reference.output_shape, slice(1, None)):
            words = _AXIS_WORDS.get(rank, "sizes")
            branch = int(stack.part.split(".")[1])
            fixes = ()
            if _known(shape) and _known(reference.output_shape):
                fixes = _branch_fixes(layer, branch, reference.output_shape, shape, check_stack)
                if not fixes and len(known) == 2 and _known(stack.output_shape):
                    # The branch at fault has nothing to change (an empty branch): change the other one.
                    other = int(reference.part.split(".")[1])
                    fixes = _branch_fixes(layer, other, stack.output_shape, shape, check_stack)
            return ShapeProblem(
                f"{stack.label} gives {format_shape(stack.output_shape)} but {reference.label} gives "
                f"{format_shape(reference.output_shape)}: branches are joined along channels, so their "
                f"{words} must agree", "branches", fixes)
    return None
