"""Editing a design: pure operations that each return a new :class:`Design`.

Designs are treated as immutable values. Every operation here takes a design
and returns a changed copy (the layers not touched are shared, not copied), so
an undo step only has to keep the design before and after. A change that the
layer models refuse raises :class:`EditError` with a sentence a person reads,
e.g. ``layer 3 (conv2d): name must be a Python identifier such as 'conv1'``.

Edits of layers inside blocks, addressed by paths, are in
:mod:`convstudio.core.block_editing`.

The GUI's undo commands call these functions; nothing here knows about Qt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from convstudio.core.design import Design, InputSpec
from convstudio.core.layers import LAYER_CLASSES, Layer, LayerBase
from convstudio.core.shape_records import LayerFix
from convstudio.core.validation_messages import describe_validation_error

# What a freshly added layer holds: a small, common and size-keeping choice.
DEFAULT_SETTINGS: dict[str, dict[str, Any]] = {
    "conv2d": {"out_channels": 32, "kernel_size": 3, "padding": 1},
    "conv3d": {"out_channels": 16, "kernel_size": 3, "padding": 1},
    "maxpool2d": {"kernel_size": 2, "stride": 2},
    "avgpool2d": {"kernel_size": 2, "stride": 2},
    "maxpool3d": {"kernel_size": 2, "stride": 2},
    "avgpool3d": {"kernel_size": 2, "stride": 2},
    "linear": {"out_features": 128},
}

_SOURCE = "design"


class EditError(ValueError):
    """A change the design cannot take, with a message meant for a person."""


class _LayerList(BaseModel):
    """Validates layers where error locations read ``layers, i, kind, field`` like a design file's."""

    layers: list[Layer]


class _InputOnly(BaseModel):
    input: InputSpec


def _explain(model: type[BaseModel], data: dict[str, Any]) -> str:
    """Why ``data`` fails ``model``, as the core's sentences (``layer 3 (conv2d): ...``)."""
    try:
        model.model_validate(data)
    except ValidationError as error:
        errors = error.errors()
        if all(not item["loc"] and item["type"] == "value_error" for item in errors):
            return "\n".join(str(item["ctx"]["error"]) for item in errors)
        text = describe_validation_error(error, data, _SOURCE)
        prefix = f"{_SOURCE}: "
        return "\n".join(line.removeprefix(prefix) for line in text.splitlines())
    return "the change was refused"


def _layer_data(layer: LayerBase) -> dict[str, Any]:
    """A layer as design-file data, defaults included."""
    return {"kind": layer.kind, **layer.model_dump(mode="python")}


def _with(design: Design, **changes: Any) -> Design:
    """A copy of ``design`` with some top-level fields replaced, validated as a whole.

    Layer and input models are passed through as they are (not copied), so a
    copy of a 200-layer design costs a fraction of a millisecond.
    """
    fields = {name: getattr(design, name) for name in Design.model_fields}
    fields.update(changes)
    try:
        return Design(**fields)
    except ValidationError as error:
        messages = [str(item["ctx"]["error"]) for item in error.errors() if item["type"] == "value_error"]
        raise EditError("\n".join(messages) or str(error)) from None


def _check_index(design: Design, index: int, allow_end: bool = False) -> None:
    limit = len(design.layers) + (1 if allow_end else 0)
    if not 0 <= index < limit:
        raise EditError(f"no layer {index + 1}: the design has {len(design.layers)} layers")


def new_layer(kind: str) -> LayerBase:
    """A layer of ``kind`` with sensible defaults (e.g. conv2d: 32 channels, k3, P1)."""
    if kind not in LAYER_CLASSES:
        raise EditError(f"unknown layer kind {kind!r}; known kinds: {', '.join(LAYER_CLASSES)}")
    return LAYER_CLASSES[kind].model_validate(DEFAULT_SETTINGS.get(kind, {}))


def layer_from_data(data: Mapping[str, Any]) -> LayerBase:
    """A layer from design-file data such as ``{"kind": "flatten"}``; missing settings get defaults."""
    kind = data.get("kind")
    if kind not in LAYER_CLASSES:
        raise EditError(f"unknown layer kind {kind!r}; known kinds: {', '.join(LAYER_CLASSES)}")
    values = {**DEFAULT_SETTINGS.get(kind, {}), **{k: v for k, v in data.items() if k != "kind"}}
    try:
        return LAYER_CLASSES[kind].model_validate(values)
    except ValidationError:
        raise EditError(_explain(_LayerList, {"layers": [{"kind": kind, **values}]})) from None


def insert_layer(design: Design, index: int, layer: LayerBase) -> Design:
    """``design`` with ``layer`` inserted before position ``index`` (``len(layers)`` appends)."""
    _check_index(design, index, allow_end=True)
    layers = list(design.layers)
    layers.insert(index, layer)
    return _with(design, layers=layers)


def remove_layer(design: Design, index: int) -> Design:
    """``design`` without the layer at ``index``."""
    _check_index(design, index)
    layers = list(design.layers)
    del layers[index]
    return _with(design, layers=layers)


def move_layer(design: Design, source: int, target: int) -> Design:
    """``design`` with the layer at ``source`` moved so that it ends up at ``target``."""
    _check_index(design, source)
    _check_index(design, target)
    layers = list(design.layers)
    layers.insert(target, layers.pop(source))
    return _with(design, layers=layers)


def duplicate_layer(design: Design, index: int) -> Design:
    """``design`` with a copy of layer ``index`` right after it (the copy's own name is dropped)."""
    _check_index(design, index)
    copy = design.layers[index].model_copy(update={"name": None})
    return insert_layer(design, index + 1, copy)


def _changed_settings(old: LayerBase, data: dict, changes: Mapping[str, Any], where: str) -> tuple[str, type, dict]:
    """The kind, layer class and settings of ``old`` (its settings ``data``) after ``changes``, not yet validated.

    When the kind changes, settings the new kind does not have are dropped.
    Raises EditError, starting with ``where``, for an unknown kind.
    """
    data.update(changes)
    kind = data.pop("kind")
    if kind not in LAYER_CLASSES:
        raise EditError(f"{where}: unknown kind {kind!r}")
    cls = LAYER_CLASSES[kind]
    if kind != old.kind:
        data = {key: value for key, value in data.items() if key in cls.model_fields}
    return kind, cls, data


def set_layer_fields(design: Design, index: int, changes: Mapping[str, Any]) -> Design:
    """``design`` with some fields of layer ``index`` changed; ``kind`` may change too.

    When the kind changes, settings the new kind does not have are dropped.
    Raises EditError, naming the layer and field, when a value is refused.
    """
    _check_index(design, index)
    old = design.layers[index]
    kind, cls, data = _changed_settings(old, _layer_data(old), changes, f"layer {index + 1} ({old.kind})")
    try:
        layer = cls.model_validate(data)
    except ValidationError:
        others: list[Any] = [{"kind": "flatten"}] * len(design.layers)
        others[index] = {"kind": kind, **data}
        raise EditError(_explain(_LayerList, {"layers": others})) from None
    layers = list(design.layers)
    layers[index] = layer
    return _with(design, layers=layers)


def set_layer_field(design: Design, index: int, field: str, value: Any) -> Design:
    """``design`` with one field of layer ``index`` set to ``value``."""
    return set_layer_fields(design, index, {field: value})


def set_input_fields(design: Design, changes: Mapping[str, Any]) -> Design:
    """``design`` with some input settings (channels, height, width, depth) changed."""
    data = {**design.input.model_dump(), **changes}
    try:
        spec = InputSpec.model_validate(data)
    except ValidationError:
        raise EditError(_explain(_InputOnly, {"input": data})) from None
    return _with(design, input=spec)


def set_input_field(design: Design, field: str, value: Any) -> Design:
    """``design`` with one input setting changed (``depth`` None makes it 2-D)."""
    return set_input_fields(design, {field: value})


def set_design_field(design: Design, field: str, value: Any) -> Design:
    """``design`` with its name or description changed."""
    if field not in ("name", "description"):
        raise EditError(f"{field} is not a design setting that can be edited here")
    return _with(design, **{field: value})


def apply_fix(design: Design, index: int, fix: LayerFix) -> Design:
    """``design`` with one of the shape engine's fixes for layer ``index`` applied.

    ``fix.changes`` are set on the layer; ``fix.insert_before`` is inserted in
    front of it, so the fixed layer then sits at ``index + 1``. A fix found on
    a block may edit a layer inside it: ``fix.path`` leads there from layer
    ``index`` (:func:`convstudio.core.block_editing.apply_fix_at` with the whole path).
    """
    if fix.path:
        # block_editing builds on this module's edits, so it is imported here, not at the top
        from convstudio.core.block_editing import apply_fix_at

        return apply_fix_at(design, (index, *fix.path), fix)
    if fix.changes:
        design = set_layer_fields(design, index, fix.changes)
    if fix.insert_before:
        design = insert_layer(design, index, layer_from_data(fix.insert_before))
    return design


def fixed_layer_index(index: int, fix: LayerFix) -> int:
    """Where layer ``index`` sits after :func:`apply_fix` applied ``fix`` (a fix inside a block leaves it be)."""
    return index + 1 if fix.insert_before and not fix.path else index
