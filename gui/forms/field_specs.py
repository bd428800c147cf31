"""What editor a pydantic field needs, read from the field's own metadata.

Ranges (``ge``, ``gt``, ``le``, ``lt``), defaults, choices and descriptions
live once, on the core's models; this module reads them so the inspector never
repeats them. No Qt here: it is plain introspection, testable headless.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

INT_LIMIT = 2**31 - 1  # what a QSpinBox holds


@dataclass(frozen=True)
class FieldSpec:
    """How to edit one field.

    ``editor`` is one of ``int``, ``float``, ``bool``, ``choice``, ``text``
    (optional identifier such as a layer name), ``optional_int`` (int or
    None) and ``axes`` (one int or one per spatial axis, maybe None).
    """

    name: str
    editor: str
    description: str
    default: Any = None
    minimum: float | None = None  # inclusive
    maximum: float | None = None  # inclusive
    exclusive_minimum: bool = False  # the bound is ``gt``, not ``ge``
    exclusive_maximum: bool = False  # the bound is ``lt``, not ``le``
    choices: tuple[str, ...] = ()
    optional: bool = False


def _bounds(metadata: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, FieldInfo):
            found.update(_bounds(item.metadata))
            continue
        for key in ("ge", "gt", "le", "lt"):
            value = getattr(item, key, None)
            if value is not None:
                found[key] = value
    return found


def _members(annotation: Any) -> list[Any]:
    """The members of a union annotation (the annotation itself when it is not a union)."""
    if get_origin(annotation) in (Union, types.UnionType):
        return list(get_args(annotation))
    return [annotation]


def _strip(annotation: Any) -> tuple[Any, list[Any]]:
    """``Annotated[int, Field(ge=1)]`` as (int, [its metadata])."""
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        return base, list(metadata)
    return annotation, []


def field_spec(model: type[BaseModel], name: str) -> FieldSpec:
    """The editor, range, default, choices and description of ``model``'s field ``name``."""
    info = model.model_fields[name]
    description = info.description or ""
    default = None if info.is_required() else info.default
    members = _members(info.annotation)
    optional = type(None) in members
    members = [member for member in members if member is not type(None)]
    bounds = _bounds(info.metadata)
    bases = []
    for member in members:
        base, metadata = _strip(member)
        if get_origin(base) is list:
            item, item_metadata = _strip(get_args(base)[0])
            bounds = {**_bounds(item_metadata), **bounds}
            bases.append(list)
        else:
            bounds = {**_bounds(metadata), **bounds}
            bases.append(base)
    common = dict(name=name, description=description, default=default, optional=optional)
    minimum = bounds.get("ge", bounds.get("gt"))
    maximum = bounds.get("le", bounds.get("lt"))
    limits = dict(minimum=minimum, maximum=maximum,
                  exclusive_minimum="gt" in bounds, exclusive_maximum="lt" in bounds)
    if list in bases:
        return FieldSpec(editor="axes", **common, **limits)
    base = bases[0] if len(bases) == 1 else None
    if get_origin(base) is Literal:
        return FieldSpec(editor="choice", choices=tuple(get_args(base)), **common)
    if base is bool:
        return FieldSpec(editor="bool", **common)
    if base is int:
        return FieldSpec(editor="optional_int" if optional else "int", **common, **limits)
    if base is float:
        return FieldSpec(editor="float", **common, **limits)
    return FieldSpec(editor="text", **common)


def editable_fields(model: type[BaseModel]) -> list[FieldSpec]:
    """Every field of ``model`` a person edits, in declaration order, the name last.

    ``kind`` is the model's tag, not a setting; ``name`` is rarely changed, so it
    goes below the settings that decide the size.
    """
    names = [name for name in model.model_fields if name not in ("kind", "name")]
    if "name" in model.model_fields:
        names.append("name")
    return [field_spec(model, name) for name in names]
