"""Turns pydantic validation errors into sentences a person can act on.

This is the one place where pydantic's error locations are read; everywhere
else sees messages such as ``design.json: layer 3 (conv2d): kernel_size must be
at least 1, got 0``.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError

from convstudio.core.layers import LAYER_CLASSES

# Pydantic's names for the members of our int-or-list unions; they say nothing to users.
_UNION_MEMBER_NAMES = {"constrained-int", "list[constrained-int]", "int", "list[int]"}


def _bound_phrase(error: dict[str, Any]) -> str | None:
    context = error.get("ctx") or {}
    phrases = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if error["type"] in phrases:
        words, key = phrases[error["type"]]
        return f"must be {words} {context.get(key)}, got {error['input']!r}"
    return None


def _what_is_wrong(error: dict[str, Any], field: str, allowed: list[str]) -> str:
    kind = error["type"]
    bound = _bound_phrase(error)
    if bound:
        return bound
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        guess = difflib.get_close_matches(field, allowed, n=1)
        hint = f"; did you mean '{guess[0]}'?" if guess else f"; known fields: {', '.join(allowed)}"
        return f"is not a known field{hint}"
    if kind == "literal_error":
        return f"must be one of {error['ctx']['expected']}, got {error['input']!r}"
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return f"must be a whole number, got {error['input']!r}"
    if kind in {"float_type", "float_parsing"}:
        return f"must be a number, got {error['input']!r}"
    if kind in {"bool_type", "bool_parsing"}:
        return f"must be true or false, got {error['input']!r}"
    if kind in {"string_type"}:
        return f"must be text, got {error['input']!r}"
    if kind == "too_short":
        needed = error["ctx"]["min_length"]
        return f"must hold at least {needed} {'entry' if needed == 1 else 'entries'}, got {error['input']!r}"
    if kind == "list_type":
        return f"must be a list, got {error['input']!r}"
    if kind in {"model_type", "dict_type"}:
        return f"must be a JSON object, got {error['input']!r}"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    return f"{error['msg'][0].lower()}{error['msg'][1:]} (got {error['input']!r})"


def _layer_label(layers: Any, index: int) -> tuple[str, Any]:
    """``layer 3 (conv2d)`` for entry ``index`` of the layer list ``layers``, and that entry's data."""
    entry = layers[index] if isinstance(layers, list) and index < len(layers) else None
    kind = entry.get("kind") if isinstance(entry, dict) else None
    return (f"layer {index + 1} ({kind})" if isinstance(kind, str) else f"layer {index + 1}"), entry


def _locate(loc: list, data: Any) -> tuple[str, tuple, str | None, list]:
    """Follow ``loc`` (``layers, i, kind, body, j, kind, field...``) into nested blocks.

    Returns where the layer sits (``layer 5 (residual) > body > layer 2 (conv2d)``),
    its path as a grouping key, its kind tag (None when the error is about the
    entry itself) and what is left of ``loc`` (the field).
    """
    where, entry = _layer_label(data.get("layers") if isinstance(data, dict) else None, loc[1])
    key: tuple = (loc[1],)
    rest = loc[2:]
    while True:
        kind = rest[0] if rest and rest[0] in LAYER_CLASSES else None
        after = rest[1:] if kind else rest
        stack_words = None
        if kind and len(after) >= 2 and after[0] in ("body", "shortcut") and isinstance(after[1], int):
            stack_words, stack, index, rest = after[0], (entry or {}).get(after[0]), after[1], after[2:]
        elif kind and len(after) >= 3 and after[0] == "branches" and isinstance(after[1], int) \
                and isinstance(after[2], int):
            branches = (entry or {}).get("branches")
            stack = branches[after[1]] if isinstance(branches, list) and after[1] < len(branches) else None
            stack_words, index, rest = f"branch {after[1] + 1}", after[2], after[3:]
        if stack_words is None:
            return where, key, kind, after
        label, entry = _layer_label(stack, index)
        where = f"{where} > {stack_words} > {label}"
        key += (stack_words, index)


def _describe_one(error: dict[str, Any], data: Any) -> tuple[tuple, str]:
    """One error as (grouping key, sentence)."""
    loc = [part for part in error["loc"] if part not in _UNION_MEMBER_NAMES]
    if len(loc) >= 2 and loc[0] == "layers" and isinstance(loc[1], int):
        where, path, kind_name, rest = _locate(loc, data)
        key = ("layers", *path)
        if error["type"] == "union_tag_invalid":
            kinds = ", ".join(LAYER_CLASSES)
            guess = difflib.get_close_matches(str(error["ctx"]["tag"]), list(LAYER_CLASSES), n=1)
            hint = f"; did you mean '{guess[0]}'?" if guess else "."
            return (key, f"{where}: unknown kind {error['ctx']['tag']!r}{hint} Known kinds: {kinds}")
        if error["type"] == "union_tag_not_found":
            return (key, f"{where}: has no 'kind' field; add one, e.g. \"kind\": \"conv2d\"")
        if error["type"] in {"model_attributes_type", "dict_type"} and kind_name is None:
            return (key, f"{where}: must be an object such as {{\"kind\": \"flatten\"}}, got {error['input']!r}")
        # rest is (field, ...) for fields, () for whole-layer checks.
        fields = [str(part) for part in rest]
        field = fields[0] if fields else None
        allowed = list(LAYER_CLASSES[kind_name].model_fields) if kind_name in LAYER_CLASSES else []
        if field is None:
            return (key, f"{where}: {_what_is_wrong(error, '', allowed)}")
        path_words = "".join(f"[{int(part) + 1}]" if part.isdigit() else part for part in fields)
        return (key + (field,), f"{where}: {path_words} {_what_is_wrong(error, field, allowed)}")
    path = ".".join(str(part) for part in loc) or "design"
    field = str(loc[-1]) if loc else ""
    allowed: list[str] = []
    if loc and loc[0] == "input":
        from convstudio.core.design import InputSpec

        allowed = list(InputSpec.model_fields)
    elif len(loc) == 1:
        from convstudio.core.design import Design

        allowed = list(Design.model_fields)
    if not loc:  # a whole-design check, such as unique layer names: its message says where
        return ((path,), _what_is_wrong(error, field, allowed))
    return ((path,), f"{path} {_what_is_wrong(error, field, allowed)}")


def _is_other_union_member(error: dict[str, Any]) -> bool:
    """True for the failure of the union member that does not match what the user wrote.

    ``kernel_size: 0`` fails both as an int (too small) and as a list (not a list);
    only the first says something useful.
    """
    last = error["loc"][-1] if error["loc"] else None
    if last == "list[constrained-int]" and error["type"] == "list_type":
        return True
    return last == "constrained-int" and isinstance(error["input"], list)


def describe_validation_error(error: ValidationError, data: Any, source: str) -> str:
    """All problems of one design, one per line, each prefixed with ``source``."""
    chosen: dict[tuple, str] = {}
    for item in error.errors():
        if _is_other_union_member(item):
            continue
        key, sentence = _describe_one(item, data)
        chosen.setdefault(key, sentence)
    lines = list(chosen.values()) or [str(error)]
    return "\n".join(f"{source}: {line}" for line in lines)
