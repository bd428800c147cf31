"""The receptive fields of the design the designer shows, computed once per design.

The layer table and the inspector both show them after every edit; edits give
a new design object (layers are never changed in place), so one entry, kept by
the design's identity, serves both.
"""

from __future__ import annotations

from convstudio.core.design import Design
from convstudio.core.receptive_field import LayerField, receptive_fields

_last: tuple[Design, list[LayerField | None]] | None = None


def fields_of(design: Design) -> list[LayerField | None]:
    """:func:`core.receptive_field.receptive_fields` of ``design``, reused while it is the same object."""
    global _last
    if _last is None or _last[0] is not design:
        _last = (design, receptive_fields(design))
    return _last[1]
