"""Addresses of layers inside blocks: paths such as ``(4, "body", 1)``.

A design's layers form a tree: a residual block holds a ``body`` and a
``shortcut`` stack, a concat block one stack per branch (``branches.0``,
``branches.1``, ...; see :func:`convstudio.core.layers.inner_stacks`). A
*layer path* alternates positions and part names and ends with a position:
``(4,)`` is the fifth top-level layer, ``(4, "body", 1)`` the second layer of
its body, ``(2, "branches.1", 0, "shortcut", 0)`` a layer deeper down. A
*stack path* ends with a part name (``(4, "body")``), or is ``()`` for the
design's own layers. Positions are 0-based here; messages number layers from 1
(:func:`path_label`).
"""

from __future__ import annotations

from collections.abc import Sequence

from convstudio.core.layers import LayerBase, inner_stacks

Path = tuple["int | str", ...]


def parent_of(path: Path) -> tuple[Path, int]:
    """(the stack path, the position in it) of layer path ``path``."""
    if not path or not isinstance(path[-1], int):
        raise ValueError(f"{path!r} is not a layer path")
    return path[:-1], path[-1]


def part_names(layer: LayerBase) -> list[str]:
    """The part names of a block's stacks (``body``, ``shortcut`` or ``branches.N``); empty for a plain layer."""
    return [part for part, _layers in inner_stacks(layer)]


def stack_of(layer: LayerBase, part: str) -> list[LayerBase]:
    """The layers of ``layer``'s part ``part``; KeyError when it has no such part."""
    for name, layers in inner_stacks(layer):
        if name == part:
            return layers
    raise KeyError(part)


def stack_at(layers: Sequence[LayerBase], stack_path: Path) -> Sequence[LayerBase]:
    """The stack at ``stack_path`` below ``layers`` (the design's own layers for ``()``)."""
    stack: Sequence[LayerBase] = layers
    for position in range(0, len(stack_path), 2):
        layer = stack[stack_path[position]]
        stack = stack_of(layer, stack_path[position + 1])
    return stack


def layer_at(layers: Sequence[LayerBase], path: Path) -> LayerBase:
    """The layer at layer path ``path`` below ``layers``."""
    stack_path, index = parent_of(path)
    return stack_at(layers, stack_path)[index]


def is_valid_layer_path(layers: Sequence[LayerBase], path: Path) -> bool:
    """True when ``path`` names an existing layer."""
    try:
        layer_at(layers, path)
    except (IndexError, KeyError, ValueError, TypeError):
        return False
    return all(not isinstance(step, int) or step >= 0 for step in path)


def path_label(layers: Sequence[LayerBase], path: Path) -> str:
    """Where a layer sits, as messages say it: ``layer 5 (residual) > body > layer 2 (conv2d)``."""
    words = []
    stack: Sequence[LayerBase] = layers
    for position, step in enumerate(path):
        if position % 2 == 0:
            layer = stack[step]
            words.append(f"layer {step + 1} ({layer.kind})")
        else:
            words.append(part_label(step))
            stack = stack_of(layer, step)
    return " > ".join(words)


def part_label(part: str) -> str:
    """``body``, ``shortcut``, or ``branch 2`` for ``branches.1``."""
    if part.startswith("branches."):
        return f"branch {int(part.split('.', 1)[1]) + 1}"
    return part


def walk(layers: Sequence[LayerBase], stack_path: Path = ()):
    """Every layer below ``layers`` as (path, layer), depth first, blocks before their contents."""
    for index, layer in enumerate(layers):
        path = (*stack_path, index)
        yield path, layer
        for part, inner in inner_stacks(layer):
            yield from walk(inner, (*path, part))
