"""The palette of layer kinds, grouped as the lecture groups them, searchable.

:class:`PaletteModel` is an item model whose leaves are layer kinds; its
``mimeData`` carries the kind, which the layer stack's model accepts in
``dropMimeData``. Double-click or Enter on a kind asks for it to be appended.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QTreeView, QVBoxLayout, QWidget

from convstudio.core.editing import DEFAULT_SETTINGS
from convstudio.gui.designer.layer_text import PALETTE_GROUPS, kind_summary, kind_title, palette_title

KIND_MIME_TYPE = "application/x-convstudio-layer-kind"
KIND_ROLE = Qt.ItemDataRole.UserRole + 1
_SEARCH_ROLE = Qt.ItemDataRole.UserRole + 2


def _default_text(kind: str) -> str:
    settings = DEFAULT_SETTINGS.get(kind)
    if not settings:
        return ""
    return "adds: " + ", ".join(f"{key} {value}" for key, value in settings.items())


class PaletteModel(QStandardItemModel):
    """Groups of layer kinds; kinds can be dragged (copied) into the layer stack."""

    def __init__(self, parent=None):
        super().__init__(parent)
        for group, kinds in PALETTE_GROUPS:
            group_item = QStandardItem(group)
            group_item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            group_item.setData(group.lower(), _SEARCH_ROLE)
            for kind in kinds:
                item = QStandardItem(palette_title(kind))
                item.setData(kind, KIND_ROLE)
                summary = kind_summary(kind)
                item.setToolTip("\n".join(filter(None, [summary, _default_text(kind)])))
                item.setData(f"{kind} {kind_title(kind)} {palette_title(kind)} {summary} {group}".lower(), _SEARCH_ROLE)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
                group_item.appendRow(item)
            self.appendRow(group_item)

    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt's name
        return [KIND_MIME_TYPE]

    def mimeData(self, indexes) -> QMimeData | None:  # noqa: N802 - Qt's name
        kinds = [index.data(KIND_ROLE) for index in indexes if index.data(KIND_ROLE)]
        if not kinds:
            return None
        mime = QMimeData()
        mime.setData(KIND_MIME_TYPE, "\n".join(kinds).encode())
        mime.setText(kinds[0])
        return mime

    def supportedDragActions(self) -> Qt.DropAction:  # noqa: N802 - Qt's name
        return Qt.DropAction.CopyAction

    def index_of_kind(self, kind: str) -> QModelIndex:
        """The item of ``kind`` (for tests and scripts)."""
        matches = self.match(self.index(0, 0), KIND_ROLE, kind, 1,
                             Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
        return matches[0] if matches else QModelIndex()


def kinds_from_mime(mime: QMimeData) -> list[str]:
    """The layer kinds a palette drag carries."""
    if not mime.hasFormat(KIND_MIME_TYPE):
        return []
    return [kind for kind in bytes(mime.data(KIND_MIME_TYPE)).decode().split("\n") if kind]


class PaletteFilterModel(QSortFilterProxyModel):
    """Keeps kinds whose name, description or group contains the search text; groups stay with them."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFilterRole(_SEARCH_ROLE)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setRecursiveFilteringEnabled(True)
        self.setAutoAcceptChildRows(True)


class PalettePanel(QWidget):
    """A search line over a tree of layer kinds. Emits ``kind_activated`` on double-click or Enter."""

    kind_activated = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("palette")
        self.model = PaletteModel(self)
        self.proxy = PaletteFilterModel(self)
        self.proxy.setSourceModel(self.model)
        self.search = QLineEdit(self)
        self.search.setObjectName("paletteSearch")
        self.search.setPlaceholderText("Search layers (e.g. pool, dropout)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._on_search_changed)
        self.tree = QTreeView(self)
        self.tree.setObjectName("paletteTree")
        self.tree.setModel(self.proxy)
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.expandAll()
        self.tree.activated.connect(self._on_activated)
        self.search.returnPressed.connect(self._on_search_return)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.setToolTip("Drag a layer into the stack, or double-click it to append it.")

    def _on_search_changed(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip().lower())
        self.tree.expandAll()

    def _on_activated(self, index: QModelIndex) -> None:
        kind = index.data(KIND_ROLE)
        if kind:
            self.kind_activated.emit(kind)

    def _on_search_return(self) -> None:
        """Enter in the search line appends the first kind that matches."""
        for group_row in range(self.proxy.rowCount()):
            group = self.proxy.index(group_row, 0)
            if self.proxy.rowCount(group):
                self._on_activated(self.proxy.index(0, 0, group))
                return
