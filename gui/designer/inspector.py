"""The inspector: editors for the selected layer (or the input), its formula and its fixes.

Editors are generated from the layer's pydantic fields (see
:mod:`convstudio.gui.forms.field_specs`); every change goes to the document as one undoable
step. Below them, the lecture's formula with the user's numbers, and for an
impossible layer the engine's reason with one button per fix. A layer inside
a block is shown by its path (``res1.body.conv2``); a block (its row, a part
header or its merge row) shows its own settings, its merge with both shapes,
and buttons that add or remove a concat block's branches or unwrap it. A fix
found on a block may edit a layer inside it: it applies at the block's path
followed by the fix's own.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from html import escape

from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import (
    QFormLayout, QFrame, QGroupBox, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget,
)

from convstudio.core.block_editing import stack_fields
from convstudio.core.design import InputSpec
from convstudio.core.layer_paths import is_valid_layer_path, layer_at
from convstudio.core.layers import LAYER_CLASSES, Concat
from convstudio.gui import theme
from convstudio.gui.designer.block_row_text import find_record
from convstudio.gui.designer.document import DesignDocument
from convstudio.gui.designer.field_cache import fields_of
from convstudio.gui.forms.field_editors import make_editor
from convstudio.gui.forms.field_specs import editable_fields
from convstudio.gui.designer.formula_text import (
    block_explanation, input_explanation, layer_explanation, receptive_field_explanation,
)
from convstudio.gui.designer.stack_rows import INPUT_KEY, LAYER, MERGE, PART
from convstudio.gui.designer.layer_text import kind_summary, kind_title
from convstudio.gui.designer.rich_text import RichTextLabel

_FIELD_LABELS = {"out_channels": "channels C", "kernel_size": "kernel k", "stride": "stride s",
                 "padding": "padding P", "p": "p (drop)", "eps": "epsilon", "flatten_input": "flatten input"}
_FIX_LINE = 52  # characters per line of a fix button's text
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
        self._key = document.selected_key  # what row ``_row`` shows: (role, path)
        self._fix_key: tuple | None = None
        self._shown: tuple | None = None
        self._field_text_of: str | None = None  # the receptive field text last shown
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
        # As tall as its text at any width (a word-wrapped QLabel is squeezed when the inspector scrolls).
        self.problem = RichTextLabel(self.problem_box)
        self.problem.setObjectName("inspectorProblemText")
        self.problem_layout.addWidget(self.problem)
        layout.addWidget(self.problem_box)

        # A block's merge (both sides and the result) and its structure edits.
        self.block_box = QGroupBox("Merge", body)
        self.block_box.setObjectName("inspectorBlock")
        block_layout = QVBoxLayout(self.block_box)
        self.merge = RichTextLabel(self.block_box)
        self.merge.setObjectName("inspectorMerge")
        block_layout.addWidget(self.merge)
        self.add_branch_button = QPushButton("Add a branch", self.block_box)
        self.add_branch_button.setObjectName("addBranchButton")
        self.add_branch_button.setToolTip("A new branch starts empty: it passes the block's input through.")
        self.add_branch_button.clicked.connect(self._on_add_branch)
        self.remove_branch_button = QPushButton("Remove this branch", self.block_box)
        self.remove_branch_button.setObjectName("removeBranchButton")
        self.remove_branch_button.clicked.connect(self._on_remove_branch)
        self.unwrap_button = QPushButton("Unwrap the block", self.block_box)
        self.unwrap_button.setObjectName("unwrapButton")
        self.unwrap_button.setToolTip("Put the block's layers in its place (a residual's body; a concat's one branch).")
        self.unwrap_button.clicked.connect(self._on_unwrap)
        for button in (self.add_branch_button, self.remove_branch_button, self.unwrap_button):
            block_layout.addWidget(button)
        layout.addWidget(self.block_box)
        self.block_box.hide()
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
        layout = self.document.layout
        key = layout.row(min(row, len(layout) - 1)).key
        if row != self._row or key != self._key:
            self.edit_error.hide()
        self._row = row
        self._key = key
        self._shown = None  # the rows may have moved under the same number
        self._refresh()

    def _on_layer_changed(self, index: int, _fields) -> None:
        path = self._path()
        if path is not None and path[0] == index and is_valid_layer_path(self.document.design.layers, path):
            self._shown = None
            self._refresh()

    def _on_input_changed(self, _fields) -> None:
        if self._key == INPUT_KEY:
            self._shown = None
            self._refresh()

    def _on_rechecked(self, indices) -> None:
        # Structural edits are followed by a selection event; here only the text can be stale.
        path = self._path()
        if path is None or not is_valid_layer_path(self.document.design.layers, path):
            return  # the layer shown is gone or moved: the selection event that follows says what to show
        index = path[0]
        if index not in indices:
            if len(path) > 1:
                return
            # An edit above that keeps this layer's shape can still change its receptive field.
            if self._field_text_of is not None and self._field_text_of != self._field_text(index):
                self._update_text()
            return
        written = self._text_of
        if written is None or written[0] != self._row or written[1] is not self.document.report:
            self._update_text()

    def _field_text(self, index: int) -> str:
        """The receptive field of layer ``index`` as the inspector shows it."""
        fields = fields_of(self.document.design)
        return receptive_field_explanation(fields[index] if index < len(fields) else None)

    def _path(self) -> tuple | None:
        """The layer shown: a layer row's layer, a part's or merge row's block; None for the input."""
        role, path = self._key
        if role in (LAYER, MERGE):
            return path
        return path[:-1] if role == PART else None

    @property
    def editors(self) -> dict[str, QWidget]:
        """The editors shown, by field name."""
        return self._form.editors if self._form else {}

    @property
    def keep_label(self) -> QLabel | None:
        """Dropout's keep probability 1 - p, when a dropout layer is shown."""
        return self._form.keep_label if self._form else None

    def _refresh(self) -> None:
        self._row = min(self._row, len(self.document.layout) - 1)
        design = self.document.design
        if self._shown is not None and self._shown[0] == self._key and self._shown[1] is design:
            return  # already showing this row of this design
        if self._path() is not None and not is_valid_layer_path(design.layers, self._path()):
            self._key = self.document.selected_key  # what it showed is gone; the selection says what to show
        self._shown = (self._key, design)
        path = self._path()
        key = ("input",) if path is None else (layer_at(design.layers, path).kind,)
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
            if kind is not None and spec.name in stack_fields(kind):
                continue  # a block's stacks are edited in the stack itself
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
        path = self._path()
        source = self.document.design.input if path is None else layer_at(self.document.design.layers, path)
        for name, editor in self.editors.items():
            value = getattr(source, name)
            if editor.current() != value:  # setting an equal value still repaints the editor
                editor.set_value(value)
        if self.keep_label is not None and path is not None:
            layer = source
            self.keep_label.setText(f"{layer.keep_probability:g}  (the lecture's keep probability)")

    def _update_text(self) -> None:
        path = self._path()
        report = self.document.report
        self._text_of = (self._row, report)
        if path is None:
            spec = self.document.design.input
            self.title.setText(f"<b>Input</b> — {escape(spec.__class__.__doc__.strip().splitlines()[0])}")
            self.formula_box.setTitle("Input")
            self.formula.setText(input_explanation(spec))
            self._show_problem(None, ())
            self._show_block(None, None)
            return
        index = path[0]
        layer = layer_at(self.document.design.layers, path)
        shape = find_record(report, path)
        if shape is None:  # the report does not reach it (should not happen): say nothing wrong
            return
        name = self.document.module_name(path)
        self.title.setText(f"<b>{escape(name)}</b> — {kind_title(layer.kind)}<br>"
                           f"<span>{escape(kind_summary(layer.kind))}</span>")
        place = f"layer {index + 1}" if len(path) == 1 else name
        self.formula_box.setTitle(f"Output size of {place}")
        field_text = self._field_text(index) if len(path) == 1 else ""
        self._field_text_of = field_text if len(path) == 1 else None
        self.formula.setText(layer_explanation(layer, shape) + field_text)
        self._show_block(layer, shape)
        if shape.problem is not None:
            where = self.document.location(path, shape)
            self._show_problem(f"{where}: {shape.problem.message}", shape.problem.fixes, path)
        elif report.problems and report.problems[0].index < index:
            first = report.problems[0]
            self._show_problem(f"Sizes here are unknown because {first.where} fails: {first.problem.message}", ())
        else:
            self._show_problem(None, ())

    def _show_block(self, layer, shape) -> None:
        """A block's merge, and the buttons that change its structure; hidden for plain layers."""
        is_block = shape is not None and layer is not None and bool(stack_fields(layer.kind))
        self.block_box.setVisible(is_block)
        if not is_block:
            return
        self.block_box.setTitle("Sum" if layer.kind == "residual" else "Concatenation")
        self.merge.setText(block_explanation(layer, shape))
        is_concat = isinstance(layer, Concat)
        self.add_branch_button.setVisible(is_concat)
        role, key_path = self._key
        branch = key_path[-1] if role == PART and str(key_path[-1]).startswith("branches.") else None
        self.remove_branch_button.setVisible(is_concat and branch is not None and len(layer.branches) > 1)
        if branch is not None:
            self.remove_branch_button.setText(f"Remove branch {int(branch.split('.')[1]) + 1}")

    def _on_add_branch(self) -> None:
        path = self._path()
        if path is not None:
            self._say(self.document.add_branch(path))

    def _on_remove_branch(self) -> None:
        role, key_path = self._key
        if role == PART and str(key_path[-1]).startswith("branches."):
            self._say(self.document.remove_branch(key_path[:-1], int(key_path[-1].split(".")[1])))

    def _on_unwrap(self) -> None:
        path = self._path()
        if path is not None:
            self._say(self.document.unwrap(path))

    def _say(self, error: str | None) -> None:
        """Show why an edit was refused (or hide the last refusal)."""
        self.edit_error.setVisible(error is not None)
        if error is not None:
            error_hex = theme.hex_color(theme.error_color(self.palette()))
            self.edit_error.setText(f"<span style='color:{error_hex}'>{escape(error, quote=False)}</span>")

    def _show_problem(self, message: str | None, fixes, path: tuple | None = None) -> None:
        self.problem_box.setVisible(message is not None)
        if message is None:
            self._fix_key = None
            return
        error_hex = theme.hex_color(theme.error_color(self.palette()))
        self.problem.setText(f"<span style='color:{error_hex}'>{escape(message)}</span>")
        fix_key = (path, tuple(fixes))
        if fix_key == self._fix_key:
            return
        self._fix_key = fix_key
        for button in self.fix_buttons:
            self.problem_layout.removeWidget(button)
            button.deleteLater()
        self.fix_buttons = []
        for number, fix in enumerate(fixes):
            # Long fixes (a shortcut's new layers) go over several lines: a button does not wrap its text.
            button = QPushButton(textwrap.fill(f"Fix: {fix.description}", _FIX_LINE), self.problem_box)
            button.setObjectName(f"fixButton{number}")
            button.setToolTip("Apply this change as one undoable step.")
            # A fix found on a block may edit a layer inside it: ``fix.path`` leads there from ``path``.
            button.clicked.connect(
                lambda _checked=False, p=path, f=fix: self.document.apply_fix_at((*p, *f.path), f))
            self.problem_layout.addWidget(button)
            self.fix_buttons.append(button)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # the system switched theme
            self._shown = self._fix_key = None
            self._refresh()

    # -- edits --------------------------------------------------------------
    def _on_edited(self, field: str, value) -> None:
        path = self._path()
        if path is None:
            error = self.document.set_input_field(field, value)
        else:
            error = self.document.set_field_at(path, field, value)
        self._say(error)
        if error is not None:
            self._update_values()
