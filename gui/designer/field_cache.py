"""The receptive fields of the design the designer shows, computed once per design.

The layer table and the inspector both show them after every edit; edits give
a new design object (layers are never changed in place), so one entry, kept by
the design's identity, serves both.
"""

from __future__ import annotations

from convstudio.core.design import Design
from convstudio.core.receptive_field import FieldWalk, LayerField, follow_fields

_last: FieldWalk | None = None


def fields_of(design: Design) -> list[LayerField | None]:
    """:func:`core.receptive_field.receptive_fields` of ``design``, reused while it is the same object.

    A new design (after an edit) is walked from the previous one's fields, so only
    the layers whose field the edit can change are walked again.
    """
    global _last
    if _last is None or _last.design is not design:
        _last = follow_fields(design, _last)
    return _last.fields
