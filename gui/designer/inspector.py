"""The inspector: editors for the selected layer (or the input), its formula and its fixes.

Editors are generated from the layer's pydantic fields (see
:mod:`convstudio.gui.forms.field_specs`); every change goes to the document as one undoable
step. Below them, the lecture's formula with the user's numbers, and for an
impossible layer the engine's reason with one button per fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from PySide6.QtCore import QCoreApplication, QEvent, Qt
from PySide6.QtWidgets import (
    QFormLayout, QFrame, QGroupBox, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget,
)

from convstudio.core.design import InputSpec
from convstudio.core.layers import LAYER_CLASSES
from convstudio.gui import theme
from convstudio.gui.designer.document import INPUT_ROW, DesignDocument
from convstudio.gui.forms.field_editors import make_editor
from convstudio.gui.forms.field_specs import editable_fields
from convstudio.gui.designer.formula_text import input_explanation, layer_explanation
from convstudio.gui.designer.layer_text import kind_summary, kind_title
from convstudio.gui.designer.rich_text import RichTextLabel

_FIELD_LABELS = {"out_channels": "channels C", "kernel_size": "kernel k", "stride": "stride s",
                 "padding": "padding P", "p": "p (drop)", "eps": "epsilon", "flatten_input": "flatten input"}
_LAYOUT_LEVELS = 4  # form, forms area, inspector body, scroll area's viewport: parents laid out in turn


def _label_for(field: str) -> str:
    return _FIELD_LABELS.get(field, field.replace("_", " "))


@dataclass
class _Form:
    """The editors of one layer kind (or of the input)."""

    host: QWidget
    editors: dict[str, QWidget] = field(default_factory=dict)
    keep_label: QLabel | None = None


class Inspector(QScrollArea):
    """Shows and edits one stack row: the input (row 0) or a layer."""

    def __init__(self, document: DesignDocument, parent=None):
        super().__init__(parent)
        self.setObjectName("inspector")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.document = document
        self._row = document.selected_row
        self._fix_key: tuple | None = None
        self._shown: tuple | None = None
        self._text_of: tuple | None = None  # (row, report) the title, formula and problem were written for
        self.fix_buttons: list[QPushButton] = []

        body = QWidget(self)
        layout = QVBoxLayout(body)
        # Rich text that changes on every edit: not a word-wrapped QLabel, whose relayout costs milliseconds.
        self.title = RichTextLabel(body)
        self.title.setObjectName("inspectorTitle")
        layout.addWidget(self.title)
        # One form per layer kind, built on first use and kept: switching rows stays cheap.
        self._forms: dict[tuple, _Form] = {}
        self._form: _Form | None = None
        self.forms_area = QWidget(body)
        self.forms_layout = QVBoxLayout(self.forms_area)
        self.forms_layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.forms_area)
        self.edit_error = QLabel(body)
        self.edit_error.setObjectName("inspectorEditError")
        self.edit_error.setWordWrap(True)
        self.edit_error.hide()
        layout.addWidget(self.edit_error)

        self.formula_box = QGroupBox("Output size", body)
        formula_layout = QVBoxLayout(self.formula_box)
        self.formula = RichTextLabel(self.formula_box)
        self.formula.setObjectName("inspectorFormula")
        formula_layout.addWidget(self.formula)
        layout.addWidget(self.formula_box)

        self.problem_box = QGroupBox("Problem", body)
        self.problem_box.setObjectName("inspectorProblem")
        self.problem_layout = QVBoxLayout(self.problem_box)
        self.problem = QLabel(self.problem_box)
        self.problem.setObjectName("inspectorProblemText")
        self.problem.setWordWrap(True)
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem_layout.addWidget(self.problem)
        layout.addWidget(self.problem_box)
        layout.addStretch(1)
        self.setWidget(body)

        events = document.events
        events.selection.connect(self.show_row)
        events.layer_changed.connect(self._on_layer_changed)
        events.input_changed.connect(self._on_input_changed)
        events.rechecked.connect(self._on_rechecked)
        self.show_row(self._row)

    # -- what is shown ------------------------------------------------------
    def show_row(self, row: int) -> None:
        """Show stack row ``row`` (0: the input); the document selects it, this follows."""
        if row != self._row:
            self.edit_error.hide()
        self._row = row
        self._shown = None  # the rows may have moved under the same number
        self._refresh()

    def _on_layer_changed(self, index: int, _fields) -> None:
        if index == self._layer_index():
            self._shown = None
            self._refresh()

    def _on_input_changed(self, _fields) -> None:
        if self._row == INPUT_ROW:
            self._shown = None
            self._refresh()

    def _on_rechecked(self, indices) -> None:
        # Structural edits are followed by a selection event; here only the text can be stale.
        index = self._layer_index()
        if index is None or index not in indices:
            return
        written = self._text_of
        if written is None or written[0] != self._row or written[1] is not self.document.report:
            self._update_text()

    def _layer_index(self) -> int | None:
        return None if self._row == INPUT_ROW else self._row - 1

    @property
    def editors(self) -> dict[str, QWidget]:
        """The editors shown, by field name."""
        return self._form.editors if self._form else {}

    @property
    def keep_label(self) -> QLabel | None:
        """Dropout's keep probability 1 - p, when a dropout layer is shown."""
        return self._form.keep_label if self._form else None

    def _refresh(self) -> None:
        self._row = min(self._row, len(self.document.design.layers))
        design = self.document.design
        if self._shown is not None and self._shown[0] == self._row and self._shown[1] is design:
            return  # already showing this row of this design
        self._shown = (self._row, design)
        index = self._layer_index()
        key = ("input",) if index is None else (self.document.design.layers[index].kind,)
        form = self._forms.get(key)
        if form is None:
            form = self._forms[key] = self._build_form(key)
        switched = form is not self._form
        if switched:
            if self._form is not None:
                self._form.host.hide()
            form.host.show()
            self._form = form
        self._update_values()
        self._update_text()
        if switched:
            # Lay the new form out now rather than on the posted layout requests: the window then
            # draws the edit in one frame, not the stack first and the inspector a frame later.
            # Each parent's layout request is posted while its child is laid out: a few rounds.
            for _level in range(_LAYOUT_LEVELS):
                QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)

    def _build_form(self, key: tuple) -> _Form:
        if key == ("input",):
            model, rank, kind = InputSpec, None, None
        else:
            kind = key[0]
            model = LAYER_CLASSES[kind]
            rank = 3 if kind.endswith("3d") else 2 if kind.endswith("2d") else None
        form = _Form(QWidget(self.forms_area))
        layout = QFormLayout(form.host)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for spec in editable_fields(model):
            editor = make_editor(spec, rank, form.host)
            editor.setObjectName(f"field_{spec.name}")
            editor.edited.connect(lambda value, name=spec.name: self._on_edited(name, value))
            label = QLabel(_label_for(spec.name), form.host)
            label.setToolTip(spec.description)
            label.setBuddy(editor)
            layout.addRow(label, editor)
            form.editors[spec.name] = editor
            if spec.name == "p" and kind == "dropout":
                form.keep_label = QLabel(form.host)
                form.keep_label.setObjectName("keepProbability")
                form.keep_label.setToolTip("The lecture's p (eq. 18): the probability that a unit is kept.")
                layout.addRow(QLabel("keep 1 − p", form.host), form.keep_label)
        form.host.hide()
        self.forms_layout.addWidget(form.host)
        return form

    def _update_values(self) -> None:
        index = self._layer_index()
        source = self.document.design.input if index is None else self.document.design.layers[index]
        for name, editor in self.editors.items():
            value = getattr(source, name)
            if editor.current() != value:  # setting an equal value still repaints the editor
                editor.set_value(value)
        if self.keep_label is not None and index is not None:
            layer = self.document.design.layers[index]
            self.keep_label.setText(f"{layer.keep_probability:g}  (the lecture's keep probability)")

    def _update_text(self) -> None:
        index = self._layer_index()
        report = self.document.report
        self._text_of = (self._row, report)
        if index is None:
            spec = self.document.design.input
            self.title.setText(f"<b>Input</b> — {escape(spec.__class__.__doc__.strip().splitlines()[0])}")
            self.formula_box.setTitle("Input")
            self.formula.setText(input_explanation(spec))
            self._show_problem(None, ())
            return
        layer = self.document.design.layers[index]
        shape = report.layers[index]
        self.title.setText(f"<b>{escape(shape.name)}</b> — {kind_title(layer.kind)}<br>"
                           f"<span>{escape(kind_summary(layer.kind))}</span>")
        self.formula_box.setTitle(f"Output size of layer {index + 1}")
        self.formula.setText(layer_explanation(layer, shape))
        if shape.problem is not None:
            self._show_problem(f"{shape.label}: {shape.problem.message}", shape.problem.fixes, index)
        elif report.problems and report.problems[0].index < index:
            first = report.problems[0]
            self._show_problem(f"Sizes here are unknown because {first.label} fails: {first.problem.message}", ())
        else:
            self._show_problem(None, ())

    def _show_problem(self, message: str | None, fixes, index: int | None = None) -> None:
        self.problem_box.setVisible(message is not None)
        if message is None:
            self._fix_key = None
            return
        error_hex = theme.hex_color(theme.error_color(self.palette()))
        self.problem.setText(f"<span style='color:{error_hex}'>{escape(message)}</span>")
        fix_key = (index, tuple(fixes))
        if fix_key == self._fix_key:
            return
        self._fix_key = fix_key
        for button in self.fix_buttons:
            self.problem_layout.removeWidget(button)
            button.deleteLater()
        self.fix_buttons = []
        for number, fix in enumerate(fixes):
            button = QPushButton(f"Fix: {fix.description}", self.problem_box)
            button.setObjectName(f"fixButton{number}")
            button.setToolTip("Apply this change as one undoable step.")
            button.clicked.connect(lambda _checked=False, i=index, f=fix: self.document.apply_fix(i, f))
            self.problem_layout.addWidget(button)
            self.fix_buttons.append(button)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # the system switched theme
            self._shown = self._fix_key = None
            self._refresh()

    # -- edits --------------------------------------------------------------
    def _on_edited(self, field: str, value) -> None:
        index = self._layer_index()
        if index is None:
            error = self.document.set_input_field(field, value)
        else:
            error = self.document.set_layer_field(index, field, value)
        self.edit_error.setVisible(error is not None)
        if error is not None:
            error_hex = theme.hex_color(theme.error_color(self.palette()))
            self.edit_error.setText(f"<span style='color:{error_hex}'>{escape(error, quote=False)}</span>")
            self._update_values()
