"""Editors that pick names from a list the form supplies, e.g. the open design's layers.

Like every editor in :mod:`convstudio.gui.forms.field_editors` they have
``current()``, ``set_value()`` (silent) and ``edited(object)``; ``set_choices(names)``
gives the names to offer, and the form calls it again when they change. A value
naming something not offered is kept and shown as such: the form, not the
editor, says why it is refused.

The names change with every layer inserted or removed (a 200-layer design
offers 200), so offering them must cost next to nothing: the pick menu is
filled when it opens, and the choice's items are a list model replaced in one
reset, not 200 items added one by one.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QAbstractListModel, QModelIndex, QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLineEdit, QMenu, QToolButton, QWidget

from convstudio.gui.forms.field_specs import FieldSpec

NONE_TEXT = "none"
_TEXT_ROLES = frozenset({int(Qt.ItemDataRole.DisplayRole), int(Qt.ItemDataRole.EditRole)})
_VALUE_ROLE = int(Qt.ItemDataRole.UserRole)  # what QComboBox.itemData() and currentData() read


def parse_names(text: str) -> list[str]:
    """``"conv1, conv2"`` as ``["conv1", "conv2"]``: comma or space separated, blanks and repeats dropped."""
    names: list[str] = []
    for name in text.replace(",", " ").split():
        if name not in names:
            names.append(name)
    return names


class NameListEditor(QWidget):
    """Several names: typed comma-separated, or ticked in the menu of the names offered."""

    edited = Signal(object)

    def __init__(self, spec: FieldSpec, parent=None):
        super().__init__(parent)
        self.setToolTip(spec.description)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.line = QLineEdit(self)
        self.line.setPlaceholderText(NONE_TEXT)
        self.line.setClearButtonEnabled(True)
        self.line.setToolTip(spec.description)
        self.line.setAccessibleName(spec.name)
        layout.addWidget(self.line, 1)
        self.menu = QMenu(self)
        self.pick = QToolButton(self)
        self.pick.setText("Pick…")
        self.pick.setToolTip("Tick the names to include")
        self.pick.setMenu(self.menu)
        self.pick.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        # The ellipsis says a menu opens; the style's arrow would overlap the text.
        self.pick.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
        layout.addWidget(self.pick)
        self._choices: tuple[str, ...] = ()
        self._menu_choices: tuple[str, ...] = ()  # the names the menu's actions were made for
        self._value: list[str] = []
        self.line.editingFinished.connect(self._on_typed)
        self.menu.aboutToShow.connect(self._on_menu_about_to_show)
        self.pick.setEnabled(False)

    def current(self) -> list[str]:
        """The names as the settings store them."""
        return list(self._value)

    def set_value(self, value: Sequence[str]) -> None:
        self._value = list(value)
        text = ", ".join(self._value)
        if text != self.line.text():
            with QSignalBlocker(self.line):
                self.line.setText(text)

    def set_choices(self, names: Sequence[str]) -> None:
        """Offer ``names`` (in this order) in the pick menu, which shows them when it next opens."""
        names = tuple(names)
        if names != self._choices:
            self._choices = names
            self.pick.setEnabled(bool(names))

    def _on_menu_about_to_show(self) -> None:
        """Make the menu's actions for the names offered (when they changed), ticking those chosen."""
        if self._menu_choices != self._choices:
            self._menu_choices = self._choices
            self.menu.clear()
            for name in self._choices:
                action = self.menu.addAction(name)
                action.setCheckable(True)
                action.toggled.connect(lambda checked, name=name: self._on_ticked(name, checked))
        for action in self.menu.actions():
            with QSignalBlocker(action):
                action.setChecked(action.text() in self._value)

    def _on_ticked(self, name: str, checked: bool) -> None:
        chosen = set(self._value) - {name} | ({name} if checked else set())
        # Offered names in the offered order, then any others as they were.
        value = [choice for choice in self._choices if choice in chosen]
        value += [other for other in self._value if other in chosen and other not in value]
        self._emit(value)

    def _on_typed(self) -> None:
        self._emit(parse_names(self.line.text()))

    def _emit(self, value: list[str]) -> None:
        if value != self._value:
            self.set_value(value)
            self.edited.emit(self.current())


class NameChoices(QAbstractListModel):
    """The items of a :class:`NameChoiceEditor`: (text, value) pairs, all replaced at once."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.items: list[tuple[str, str | None]] = [(NONE_TEXT, None)]

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        role = int(role)
        if role in _TEXT_ROLES:
            return self.items[index.row()][0]
        if role == _VALUE_ROLE:
            return self.items[index.row()][1]
        return None

    def replace(self, items: list[tuple[str, str | None]]) -> None:
        """Show ``items`` instead (one model reset)."""
        self.beginResetModel()
        self.items = items
        self.endResetModel()


class NameChoiceEditor(QComboBox):
    """One of the names offered, or none."""

    edited = Signal(object)

    def __init__(self, spec: FieldSpec, parent=None):
        super().__init__(parent)
        self.setToolTip(spec.description)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.choices = NameChoices(self)
        self.setModel(self.choices)
        # The list's items are all one line of text: Qt then measures one, not every name.
        self.view().setUniformItemSizes(True)
        self._choices: tuple[str, ...] = ()
        self._rows: dict[str, int] = {}  # row of each name offered
        self._fill(None)
        self.activated.connect(lambda _index: self.edited.emit(self.current()))

    def current(self) -> str | None:
        return self.currentData()

    def set_value(self, value: str | None) -> None:
        if value != self.current():
            with QSignalBlocker(self):
                self._fill(value)

    def set_choices(self, names: Sequence[str]) -> None:
        """Offer ``names`` (in this order) after "none"."""
        if tuple(names) != self._choices:
            self._choices = tuple(names)
            self._rows = {name: row for row, name in enumerate(self._choices, start=1)}
            with QSignalBlocker(self):
                self._fill(self.current(), rebuild=True)

    def _fill(self, value: str | None, rebuild: bool = False) -> None:
        """Select ``value``: one more item, marked, when it is not offered; the items are remade when needed."""
        missing = value is not None and value not in self._rows
        extra = len(self.choices.items) - 1 - len(self._choices)  # 1 while a value not offered is listed
        if rebuild or missing or extra:
            items = [(NONE_TEXT, None)] + [(name, name) for name in self._choices]
            if missing:
                items.append((f"{value} (not in the design)", value))
            self.choices.replace(items)
        self.setCurrentIndex(len(self._choices) + 1 if missing else self._rows.get(value, 0))
