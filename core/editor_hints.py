"""What a settings form needs to know about a field, declared on the field itself.

A pydantic field carries one :class:`EditorHint` in its ``Annotated`` metadata::

    momentum: Annotated[float, EditorHint("momentum α", "Optimizer", when("optimizer", "sgd"))] = Field(
        default=0.9, ge=0, lt=1, description="SGD momentum (0 for plain SGD, eq. 19).")

Ranges, defaults and descriptions stay on ``Field``; the hint adds only the label,
the form's section and when the editor is shown, so a new setting gets its editor
with this one edit. Plain Python (no Qt): the GUI builds its forms from it
(``convstudio.gui.forms``), and tests read it headless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic.fields import FieldInfo

ShownWhen = Callable[[Any, Any], bool]
"""``(settings, design) -> bool``: whether an editor is shown. ``settings`` is the whole
model the form edits (the outer one for a nested field); ``design`` is the open design,
or None where there is none (a condition that needs it then says True)."""


@dataclass(frozen=True)
class EditorHint:
    """How a form shows one field.

    ``label``: the row's label. ``group``: the form's section (None for a field of a
    nested model: the section of the field that holds the model). ``shown_when``: when
    the editor is shown (None: always). ``widget``: a special editor instead of the one
    the field's type implies, named for what it offers, e.g. ``"layers"`` (layers of the
    open design) or ``"device"``; the form that shows the model supplies it.
    """

    label: str
    group: str | None = None
    shown_when: ShownWhen | None = None
    widget: str | None = None

    def shown(self, settings: Any, design: Any = None) -> bool:
        """Whether the editor is shown for these settings and this design."""
        return self.shown_when is None or bool(self.shown_when(settings, design))


@dataclass(frozen=True)
class When:
    """Shown while the setting ``field`` holds one of ``values``; made by :func:`when`."""

    field: str
    values: tuple[Any, ...]

    def __call__(self, settings: Any, design: Any = None) -> bool:
        return getattr(settings, self.field) in self.values


def when(field: str, *values: Any) -> When:
    """The condition "``field`` is one of ``values``": ``when("optimizer", "adagrad", "adam")``."""
    return When(field, values)


def editor_hint(info: FieldInfo) -> EditorHint | None:
    """The field's :class:`EditorHint`, or None when it declares none."""
    return next((item for item in info.metadata if isinstance(item, EditorHint)), None)
