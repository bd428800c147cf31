"""Editor widgets built from a :class:`~convstudio.gui.forms.field_specs.FieldSpec`.

Every editor has ``current()`` (the value as the design stores it),
``set_value(value)`` (which does not signal) and
an ``edited(object)`` signal carrying the new value for the design. Ranges and
tooltips come from the spec, i.e. from the pydantic field.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox, QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLineEdit, QSpinBox, QWidget,
)

from convstudio.gui.forms.field_specs import INT_LIMIT, FieldSpec
from convstudio.gui.forms.name_editors import NameChoiceEditor, NameListEditor

_AXIS_LETTERS = {2: ("H", "W"), 3: ("D", "H", "W")}


def _int_range(spec: FieldSpec) -> tuple[int, int]:
    low = -INT_LIMIT if spec.minimum is None else int(spec.minimum) + (1 if spec.exclusive_minimum else 0)
    high = INT_LIMIT if spec.maximum is None else int(spec.maximum) - (1 if spec.exclusive_maximum else 0)
    return low, high


def _int_spin(spec: FieldSpec, parent: QWidget) -> QSpinBox:
    spin = QSpinBox(parent)
    spin.setRange(*_int_range(spec))
    spin.setToolTip(spec.description)
    spin.setAccelerated(True)
    # Scrolling the inspector must not change a value by accident.
    spin.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    return spin


class IntEditor(QSpinBox):
    """A whole number within the field's ``ge``/``le`` range."""

    edited = Signal(object)

    def __init__(self, spec: FieldSpec, parent=None):
        super().__init__(parent)
        self.setRange(*_int_range(spec))
        self.setToolTip(spec.description)
        self.setAccelerated(True)
        self.valueChanged.connect(lambda value: self.edited.emit(int(value)))

    def current(self) -> int:
        return int(self.value())

    def set_value(self, value: int) -> None:
        with QSignalBlocker(self):
            self.setValue(int(value))


class OptionalIntEditor(QSpinBox):
    """A whole number or None (shown as "none" just below the minimum), e.g. the input's depth."""

    edited = Signal(object)

    def __init__(self, spec: FieldSpec, parent=None):
        super().__init__(parent)
        low, high = _int_range(spec)
        self._none_value = low - 1
        self.setRange(self._none_value, high)
        self.setSpecialValueText("none (2-D images)" if spec.name == "depth" else "none")
        self.setToolTip(spec.description)
        self.valueChanged.connect(lambda _value: self.edited.emit(self.current()))

    def current(self) -> int | None:
        value = self.value()
        return None if value == self._none_value else int(value)

    def set_value(self, value: int | None) -> None:
        with QSignalBlocker(self):
            self.setValue(self._none_value if value is None else int(value))


class FloatEditor(QDoubleSpinBox):
    """A number within the field's bounds; ``gt``/``lt`` bounds stay just inside."""

    edited = Signal(object)

    def __init__(self, spec: FieldSpec, parent=None):
        super().__init__(parent)
        default = spec.default if isinstance(spec.default, float) and spec.default > 0 else 0.1
        decimals = max(2, 2 - math.floor(math.log10(default)))
        self.setDecimals(decimals)
        step = 10.0 ** -decimals
        low = -1e9 if spec.minimum is None else spec.minimum + (step if spec.exclusive_minimum else 0)
        high = 1e9 if spec.maximum is None else spec.maximum - (step if spec.exclusive_maximum else 0)
        self.setRange(low, high)
        self.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
        self.setToolTip(spec.description)
        self.valueChanged.connect(lambda value: self.edited.emit(float(value)))

    def current(self) -> float:
        return float(self.value())

    def set_value(self, value: float) -> None:
        with QSignalBlocker(self):
            self.setValue(float(value))


class BoolEditor(QCheckBox):
    """True or false."""

    edited = Signal(object)

    def __init__(self, spec: FieldSpec, parent=None):
        super().__init__(parent)
        self.setToolTip(spec.description)
        self.toggled.connect(lambda checked: self.edited.emit(bool(checked)))

    def current(self) -> bool:
        return self.isChecked()

    def set_value(self, value: bool) -> None:
        with QSignalBlocker(self):
            self.setChecked(bool(value))


class ChoiceEditor(QComboBox):
    """One of a ``Literal``'s values."""

    edited = Signal(object)

    def __init__(self, spec: FieldSpec, parent=None):
        super().__init__(parent)
        self.addItems(list(spec.choices))
        self.setToolTip(spec.description)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.currentTextChanged.connect(self.edited.emit)

    def current(self) -> str:
        return self.currentText()

    def set_value(self, value: str) -> None:
        with QSignalBlocker(self):
            self.setCurrentText(value)


class NameEditor(QLineEdit):
    """An optional identifier; empty means "generated from the kind". Applied on Enter or focus out."""

    edited = Signal(object)

    def __init__(self, spec: FieldSpec, parent=None):
        super().__init__(parent)
        self.setToolTip(spec.description)
        self.setClearButtonEnabled(True)
        self.editingFinished.connect(lambda: self.edited.emit(self.current()))

    def current(self) -> str | None:
        return self.text().strip() or None

    def set_value(self, value: str | None) -> None:
        if (value or "") != self.text():
            with QSignalBlocker(self):
                self.setText(value or "")


class AxesEditor(QWidget):
    """One int for all spatial axes, or one per axis after ticking "per axis".

    For an optional setting (pooling stride) the lowest value of the single
    box reads "= kernel" and stands for None.
    """

    edited = Signal(object)

    def __init__(self, spec: FieldSpec, rank: int, parent=None):
        super().__init__(parent)
        self.spec = spec
        self.rank = rank
        self.setToolTip(spec.description)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.single = _int_spin(spec, self)
        self._none_value: int | None = None
        if spec.optional:
            self._none_value = self.single.minimum() - 1
            self.single.setMinimum(self._none_value)
            self.single.setSpecialValueText("= kernel")
        self.single.setAccessibleName(spec.name)
        layout.addWidget(self.single, 1)
        self.axes = []
        for letter in _AXIS_LETTERS[rank]:
            spin = _int_spin(spec, self)
            spin.setPrefix(f"{letter} ")
            spin.setAccessibleName(f"{spec.name} {letter}")
            spin.hide()
            spin.valueChanged.connect(self._on_changed)
            layout.addWidget(spin, 1)
            self.axes.append(spin)
        self.per_axis = QCheckBox("per axis", self)
        self.per_axis.setToolTip("Give each spatial axis (" + ", ".join(_AXIS_LETTERS[rank]) + ") its own value.")
        layout.addWidget(self.per_axis)
        self.single.valueChanged.connect(self._on_changed)
        self.per_axis.toggled.connect(self._on_per_axis_toggled)

    def current(self) -> int | list[int] | None:
        """The setting as the design stores it."""
        if self.per_axis.isChecked():
            return [spin.value() for spin in self.axes]
        value = self.single.value()
        return None if value == self._none_value else value

    def set_value(self, value: int | list[int] | None) -> None:
        blockers = [QSignalBlocker(widget) for widget in (self.single, self.per_axis, *self.axes)]
        per_axis = isinstance(value, list)
        self.per_axis.setChecked(per_axis)
        if per_axis:
            for spin, item in zip(self.axes, value):
                spin.setValue(item)
        else:
            self.single.setValue(self._none_value if value is None else value)
        self._show_mode(per_axis)
        del blockers

    def _show_mode(self, per_axis: bool) -> None:
        self.single.setVisible(not per_axis)
        for spin in self.axes:
            spin.setVisible(per_axis)

    def _on_per_axis_toggled(self, per_axis: bool) -> None:
        blockers = [QSignalBlocker(widget) for widget in (self.single, *self.axes)]
        if per_axis:
            start = self.single.value()
            start = self.axes[0].minimum() if start == self._none_value else start
            for spin in self.axes:
                spin.setValue(start)
        else:
            self.single.setValue(self.axes[0].value())
        del blockers
        self._show_mode(per_axis)
        self._on_changed()

    def _on_changed(self, *_args) -> None:
        self.edited.emit(self.current())


def make_editor(spec: FieldSpec, rank: int | None, parent: QWidget) -> QWidget:
    """The editor widget for ``spec`` (``rank``: spatial axes of the layer, for ``axes`` fields).

    ``layers`` and ``layer`` editors pick from names the form gives them with ``set_choices``.
    """
    if spec.editor == "axes":
        return AxesEditor(spec, rank or 2, parent)
    editor_class: Any = {
        "int": IntEditor, "optional_int": OptionalIntEditor, "float": FloatEditor,
        "bool": BoolEditor, "choice": ChoiceEditor, "text": NameEditor,
        "layers": NameListEditor, "layer": NameChoiceEditor,
    }[spec.editor]
    return editor_class(spec, parent)
