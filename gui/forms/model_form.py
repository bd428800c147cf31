"""A form generated from a pydantic model: one labelled editor per field, in sections.

Which editors, their labels, sections and when each is shown all come from the
model's fields (:func:`~convstudio.gui.forms.field_specs.form_fields`), so adding a
field to the model adds its editor here. The form holds no values of its own: its
owner shows values with :meth:`ModelForm.show_values` and applies
:attr:`ModelForm.edited` to its model (e.g. as an undoable edit).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QVBoxLayout, QWidget

from convstudio.gui.forms.field_editors import make_editor
from convstudio.gui.forms.field_specs import FieldSpec, FormField, form_fields, value_at

EditorFactory = Callable[[FieldSpec, QWidget], QWidget]


class ModelForm(QWidget):
    """Editors for every field of ``model``, grouped in one box per section.

    Sections come in the order of their first field. ``factories`` build the
    editors of special widgets (an :class:`EditorHint`'s ``widget``, e.g. ``device``)
    that :func:`~convstudio.gui.forms.field_editors.make_editor` does not know.
    """

    edited = Signal(str, object)  # the field's key (dotted when nested) and its new value

    def __init__(self, model: type[BaseModel], factories: Mapping[str, EditorFactory] | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        factories = dict(factories or {})
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.fields: dict[str, FormField] = {}
        self.editors: dict[str, QWidget] = {}
        self.groups: dict[str, QGroupBox] = {}
        self.rows: dict[str, tuple[QFormLayout, QWidget]] = {}
        for field in form_fields(model):
            box = self.groups.get(field.group) or self._add_group(field.group)
            form: QFormLayout = box.layout()
            factory = factories.get(field.spec.editor)
            editor = factory(field.spec, box) if factory else make_editor(field.spec, None, box)
            if not editor.objectName():
                editor.setObjectName(f"setting_{field.key.replace('.', '_')}")
            form.addRow(field.label, editor)
            editor.edited.connect(lambda value, key=field.key: self.edited.emit(key, value))
            self.fields[field.key] = field
            self.editors[field.key] = editor
            self.rows[field.key] = (form, editor)

    def _add_group(self, title: str) -> QGroupBox:
        box = QGroupBox(title, self)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.layout().addWidget(box)
        self.groups[title] = box
        return box

    def show_values(self, values: dict[str, Any]) -> None:
        """Show a model's dump (``model_dump()``); editors already showing their value are left alone."""
        for key, editor in self.editors.items():
            value = value_at(values, key)
            if editor.current() != value:
                editor.set_value(value)

    def show_rows_for(self, settings: BaseModel, design: Any = None) -> None:
        """Show each conditional editor only where its field's condition holds."""
        for key, field in self.fields.items():
            if field.shown_when:
                form, editor = self.rows[key]
                shown = field.shown(settings, design)
                if form.isRowVisible(editor) != shown:  # setting it again still lays the form out again
                    form.setRowVisible(editor, shown)

    def is_shown(self, key: str) -> bool:
        """Whether the editor of ``key`` is shown (its row, not whether the form is on screen)."""
        form, editor = self.rows[key]
        return form.isRowVisible(editor)
