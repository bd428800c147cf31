"""Read-only rich text as tall as its contents: what a word-wrapped rich-text QLabel shows, for less.

A word-wrapped rich-text ``QLabel`` lays its text out many times over to find
its size whenever the text changes (about 2 ms for the inspector's formula),
and the inspector changes its formula on every edit. :class:`RichTextLabel`
lays the text out once for its width and fixes its height to the result.
The text stays selectable with the mouse, as in the label it replaces.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QSizePolicy, QTextBrowser


class RichTextLabel(QTextBrowser):
    """A label for HTML: ``setText``/``text`` like ``QLabel``; no frame, no scroll bars, no background."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._html = ""
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setOpenLinks(False)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # selectable, but not a Tab stop
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.document().setDocumentMargin(0)
        self.viewport().setAutoFillBackground(False)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Base, Qt.GlobalColor.transparent)
        self.setPalette(palette)
        self.setFixedHeight(0)

    def setText(self, html: str) -> None:  # noqa: N802 - QLabel's name
        """Show ``html`` (nothing happens when it is the text shown)."""
        if html == self._html:
            return
        self._html = html
        self.setHtml(html)
        self._fit_height()

    def text(self) -> str:
        """The HTML last given to :meth:`setText`."""
        return self._html

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._fit_height()

    def _fit_height(self) -> None:
        document = self.document()
        width = self.viewport().width()
        if document.textWidth() != width:  # setting even the same width lays the text out again
            document.setTextWidth(width)
        height = math.ceil(document.size().height()) if self._html else 0
        if height != self.height():
            self.setFixedHeight(height)
