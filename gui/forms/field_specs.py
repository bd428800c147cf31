"""What editor a pydantic field needs, read from the field's own metadata.

Ranges (``ge``, ``gt``, ``le``, ``lt``), defaults, choices and descriptions
live once, on the core's models; so do the label, section and condition of a
settings editor (:class:`~convstudio.core.editor_hints.EditorHint`). This module
reads them so the inspector and the settings forms never repeat them. No Qt
here: it is plain introspection, testable headless.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from convstudio.core.editor_hints import EditorHint, ShownWhen, editor_hint

INT_LIMIT = 2**31 - 1  # what a QSpinBox holds


@dataclass(frozen=True)
class FieldSpec:
    """How to edit one field.

    ``editor`` is one of ``int``, ``float``, ``bool``, ``choice``, ``text``
    (optional identifier such as a layer name), ``optional_int`` (int or
    None) and ``axes`` (one int or one per spatial axis, maybe None), or the
    ``widget`` its :class:`EditorHint` names (``layers``, ``device``, ...).
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
    hint: EditorHint | None = None


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
    hint = editor_hint(info)
    common = dict(name=name, description=description, default=default, optional=optional, hint=hint)
    minimum = bounds.get("ge", bounds.get("gt"))
    maximum = bounds.get("le", bounds.get("lt"))
    limits = dict(minimum=minimum, maximum=maximum,
                  exclusive_minimum="gt" in bounds, exclusive_maximum="lt" in bounds)
    if hint is not None and hint.widget is not None:
        choices = tuple(get_args(bases[0])) if len(bases) == 1 and get_origin(bases[0]) is Literal else ()
        return FieldSpec(editor=hint.widget, choices=choices, **common, **limits)
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


OTHER_GROUP = "Other"  # the section of a field that declares no EditorHint group


@dataclass(frozen=True)
class FormField:
    """One editor of a settings form: where its value lives, how it is labelled, when shown.

    ``key`` is the field's path in the model's dump, dotted for a nested model's field
    (``augmentation.flip``). ``shown_when`` holds the field's condition and those of the
    fields that hold it; each is given the whole settings and the design.
    """

    key: str
    spec: FieldSpec
    label: str
    group: str
    shown_when: tuple[ShownWhen, ...] = ()

    def shown(self, settings: Any, design: Any = None) -> bool:
        """Whether this editor is shown for these settings and this design."""
        return all(condition(settings, design) for condition in self.shown_when)


def form_fields(model: type[BaseModel], prefix: str = "", group: str = OTHER_GROUP,
                shown_when: tuple[ShownWhen, ...] = ()) -> list[FormField]:
    """One :class:`FormField` per leaf field of ``model``, in declaration order.

    A field holding a pydantic model is opened up: its fields follow, keyed
    ``name.field``, in its section unless they name their own. Labels, sections and
    conditions come from the fields' :class:`EditorHint`; a field without one is
    labelled by its name in :data:`OTHER_GROUP`, so it still gets an editor.
    """
    fields = []
    for name, info in model.model_fields.items():
        hint = editor_hint(info)
        own_group = hint.group if hint is not None and hint.group else group
        conditions = shown_when + ((hint.shown_when,) if hint is not None and hint.shown_when else ())
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            fields += form_fields(info.annotation, f"{prefix}{name}.", own_group, conditions)
            continue
        label = hint.label if hint is not None else name.replace("_", " ")
        fields.append(FormField(prefix + name, field_spec(model, name), label, own_group, conditions))
    return fields


def value_at(data: dict[str, Any], key: str) -> Any:
    """The value at a dotted ``key`` of a model's dump (``augmentation.flip``)."""
    for part in key.split("."):
        data = data[part]
    return data


def with_value(data: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """A copy of a model's dump with the dotted ``key`` set to ``value`` (``data`` is left alone)."""
    head, _, rest = key.partition(".")
    return {**data, head: with_value(data[head], rest, value) if rest else value}
