"""A picture drawn by core (a PIL image) shown at its own size, clickable, exportable as PNG."""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QMenu



def pixmap_from_pil(image: Image.Image) -> QPixmap:
    """A PIL RGB image as a QPixmap (the bytes are copied, so the PIL image may go)."""
    rgb = image.convert("RGB")
    data = rgb.tobytes()
    qimage = QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(qimage.copy())


class PictureView(QLabel):
    """Shows one picture; ``clicked(x, y)`` in the picture's pixels; right-click exports it as PNG.

    ``choose_path(suggestion, filter)`` asks where to save (the window's file
    dialog through its PanelHost; a test passes its own).
    """

    clicked = Signal(int, int)

    def __init__(self, export_name: str, choose_path: Callable[[str, str], str], parent=None):
        super().__init__(parent)
        self.export_name = export_name
        self._choose_path = choose_path
        self.picture: Image.Image | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._on_context_menu)
        self.setToolTip("Right-click to export this picture as PNG")

    def set_picture(self, picture: Image.Image | None) -> None:
        """Show ``picture`` (None: nothing)."""
        self.picture = picture
        if picture is None:
            self.clear()
            return
        self.setPixmap(pixmap_from_pil(picture))
        self.setFixedSize(picture.width, picture.height)

    def export(self, path: str | None = None) -> str | None:
        """Save the picture as PNG (asking where when ``path`` is None); returns the path, or None."""
        if self.picture is None:
            return None
        if path is None:
            path = self._choose_path(f"{self.export_name}.png", "PNG images (*.png)")
            if not path:
                return None
        from convstudio.core.inspection.render import save_png  # torch loads with the first picture, not the window

        save_png(self.picture, path)
        return path

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if event.button() == Qt.MouseButton.LeftButton and self.picture is not None:
            point = event.position().toPoint()
            self.clicked.emit(point.x(), point.y())
        super().mousePressEvent(event)

    def _on_context_menu(self, position) -> None:
        menu = QMenu(self)
        menu.addAction("Export as PNG…", self.export).setEnabled(self.picture is not None)
        menu.exec(self.mapToGlobal(position))
