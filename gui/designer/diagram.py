"""A picture of the network: each feature-map volume drawn to (log) scale, as papers draw CNNs.

Every layer that makes new feature maps (convolution, pooling, flatten,
linear) gets a box: its height follows the spatial size, its thickness the
number of channels, its receding side the width; flat vectors are thin bars.
Layers that keep the shape (batch norm, dropout, activations) are named under
the box they act on. The same painting code draws the widget, the PNG and the
SVG export.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPalette, QPen, QPolygonF
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QWidget

from convstudio.core.shape_records import Shape, format_shape
from convstudio.gui import theme
from convstudio.gui.designer.document import DesignDocument

_SHAPE_KEEPING = frozenset({"batchnorm", "dropout", "activation", "softmax"})
_HUES = {"input": None, "conv": 212, "pool": 28, "vector": 140}
_MARGIN = 16.0
_GAP = 26.0
_LABEL_GAP = 8.0


def spatial_px(size: int | None) -> float:
    """Drawn height of a spatial size, logarithmic: 32 -> 114 px, 8 -> 74 px, 1 -> 14 px."""
    if size is None:
        return 40.0
    return min(190.0, 14.0 + 20.0 * math.log2(max(size, 1)))


def channel_px(channels: int | None) -> float:
    """Drawn thickness of a channel count: 3 -> 13 px, 64 -> 40 px, 512 -> 58 px."""
    if channels is None:
        return 10.0
    return min(64.0, 4.0 + 6.0 * math.log2(max(channels, 1)))


def vector_px(values: int | None) -> float:
    """Drawn height of a flat vector: 10 -> 56 px, 500 -> 135 px, 4096 -> 178 px."""
    if values is None:
        return 40.0
    return min(200.0, 10.0 + 14.0 * math.log2(max(values, 1)))


@dataclass
class Volume:
    """One box of the diagram, with its geometry and labels (x is its left edge)."""

    title: str
    shape_text: str
    extras: list[str]
    category: str  # input, conv, pool or vector
    state: str  # ok, error or affected
    height: float
    thickness: float
    depth: float  # receding side, drawn up and to the right
    x: float = 0.0
    width: float = 0.0  # of box and labels together


def _volume_for(title: str, kind: str, shape: Shape | None, state: str) -> Volume:
    category = ("conv" if kind.startswith("conv") else "pool" if "pool" in kind
                else "input" if kind == "input" else "vector")
    if shape is not None and len(shape) == 1:
        height, thickness, depth = vector_px(shape[0]), 8.0, 6.0
        category = "vector" if category != "input" else category
    elif shape is not None:
        height = spatial_px(shape[-2])
        thickness = channel_px(shape[0])
        depth = 0.45 * spatial_px(shape[-1])
    else:
        height, thickness, depth = 40.0, 10.0, 18.0
    return Volume(title, format_shape(shape), [], category, state, height, thickness, depth)


def _extra_lines(volume: Volume) -> list[str]:
    """The shape-keeping layers under a box, in at most two lines."""
    extras = volume.extras
    return extras if len(extras) <= 2 else [extras[0], f"+{len(extras) - 1} more"]


class NetworkDiagram(QWidget):
    """The feature-map volumes of the document's design, redrawn on every change."""

    def __init__(self, document: DesignDocument, parent=None):
        super().__init__(parent)
        self.setObjectName("networkDiagram")
        self.setAccessibleName("Network diagram")
        self.setToolTip("Each box is a layer's output: height follows the image size, thickness the "
                        "channels (both on a log scale); thin bars are flat vectors. Dashed: sizes "
                        "unknown after a failing layer.")
        self.document = document
        self.volumes: list[Volume] = []
        self._content = QSize(200, 200)
        self._max_height = 0.0
        document.changed.connect(self._on_document_changed)
        self._on_document_changed()

    # -- layout --------------------------------------------------------------
    def _small_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        return font

    def _on_document_changed(self) -> None:
        report = self.document.report
        first_problem = report.problems[0].index if report.problems else None
        volumes = [_volume_for("input", "input", report.input_shape, "ok")]
        for shape in report.layers:
            state = ("error" if shape.problem is not None
                     else "affected" if first_problem is not None and shape.index > first_problem else "ok")
            if shape.kind in _SHAPE_KEEPING and state != "error":
                volumes[-1].extras.append(shape.name)
                continue
            volumes.append(_volume_for(shape.name, shape.kind, shape.output_shape, state))
        self.volumes = volumes
        self._layout()
        self.updateGeometry()
        self.update()

    def _layout(self) -> None:
        bold = QFont(self.font())
        bold.setBold(True)
        title_metrics, small_metrics = QFontMetricsF(bold), QFontMetricsF(self._small_font())
        x = _MARGIN
        self._max_height = max((v.height + v.depth * 0.75 for v in self.volumes), default=0.0)
        for volume in self.volumes:
            texts = [title_metrics.horizontalAdvance(volume.title), small_metrics.horizontalAdvance(volume.shape_text)]
            texts += [small_metrics.horizontalAdvance(extra) for extra in _extra_lines(volume)]
            volume.width = max(volume.thickness + volume.depth, *texts)
            volume.x = x
            x += volume.width + _GAP
        lines = 1 + max((len(_extra_lines(v)) for v in self.volumes), default=0)
        label_height = title_metrics.height() + lines * small_metrics.height() + 4
        height = 2 * _MARGIN + 8 + self._max_height + _LABEL_GAP + label_height
        self._content = QSize(int(x - _GAP + _MARGIN), int(math.ceil(height)))
        self.setMinimumSize(self._content)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return self._content

    # -- painting ------------------------------------------------------------
    def _colors(self, volume: Volume, palette: QPalette) -> tuple[QColor, QColor, QColor, QColor]:
        """Front, top and side fill, and outline."""
        dark = theme.is_dark(palette)
        text = palette.color(QPalette.ColorRole.WindowText)
        hue = _HUES[volume.category]
        if volume.state == "error":
            base = theme.error_color(palette)
        elif hue is None:
            base = theme.mix(palette.color(QPalette.ColorRole.Base), text, 0.35)
        else:
            base = QColor.fromHsl(hue, 150, 100 if dark else 170)
        if volume.state == "affected":
            base = theme.mix(base, palette.color(QPalette.ColorRole.Base), 0.6)
        return base, base.lighter(125), base.darker(130), theme.mix(base, text, 0.55)

    def paint_diagram(self, painter: QPainter, palette: QPalette, visible: QRectF | None = None) -> None:
        """Draw every volume with ``painter`` (used by the widget, PNG and SVG export)."""
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        mid = _MARGIN + self._max_height / 2 + 8
        label_top = _MARGIN + self._max_height + _LABEL_GAP + 8
        bold = QFont(self.font())
        bold.setBold(True)
        small = self._small_font()
        text = palette.color(QPalette.ColorRole.WindowText)
        muted = theme.mix(text, palette.color(QPalette.ColorRole.Window), 0.35)
        for volume in self.volumes:
            if visible is not None and (volume.x > visible.right() or volume.x + volume.width < visible.left()):
                continue
            front, top, side, outline = self._colors(volume, palette)
            left = volume.x + (volume.width - volume.thickness - volume.depth) / 2
            y0 = mid - volume.height / 2 + volume.depth * 0.35
            rect = QRectF(left, y0, volume.thickness, volume.height)
            dx, dy = volume.depth, volume.depth * 0.7
            pen = QPen(outline, 1.0)
            if volume.state == "affected" or volume.shape_text.count("?"):
                pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(top)
            painter.drawPolygon(QPolygonF([rect.topLeft(), rect.topLeft() + QPointF(dx, -dy),
                                           rect.topRight() + QPointF(dx, -dy), rect.topRight()]))
            painter.setBrush(side)
            painter.drawPolygon(QPolygonF([rect.topRight(), rect.topRight() + QPointF(dx, -dy),
                                           rect.bottomRight() + QPointF(dx, -dy), rect.bottomRight()]))
            painter.setBrush(front)
            painter.drawRect(rect)
            title_line = QFontMetricsF(bold).height()
            line = QFontMetricsF(small).height()
            left_edge, span = volume.x - _GAP / 2 + 2, volume.width + _GAP - 4
            painter.setFont(bold)
            painter.setPen(theme.error_color(palette) if volume.state == "error" else text)
            title_box = QRectF(left_edge, label_top, span, title_line)
            painter.drawText(title_box, Qt.AlignmentFlag.AlignHCenter, volume.title)
            painter.setFont(small)
            y = label_top + title_line
            painter.drawText(QRectF(left_edge, y, span, line), Qt.AlignmentFlag.AlignHCenter, volume.shape_text)
            painter.setPen(muted)
            for extra in _extra_lines(volume):
                y += line
                painter.drawText(QRectF(left_edge, y, span, line), Qt.AlignmentFlag.AlignHCenter, extra)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(event.rect(), self.palette().color(QPalette.ColorRole.Base))
        self.paint_diagram(painter, self.palette(), QRectF(event.rect()))
        painter.end()

    # -- export ----------------------------------------------------------------
    def render_image(self, scale: float = 2.0) -> QImage:
        """The whole diagram as an image (``scale`` times the on-screen size)."""
        size = self._content
        image = QImage(int(size.width() * scale), int(size.height() * scale), QImage.Format.Format_ARGB32)
        image.setDevicePixelRatio(scale)
        image.fill(self.palette().color(QPalette.ColorRole.Base))
        painter = QPainter(image)
        self.paint_diagram(painter, self.palette())
        painter.end()
        return image

    def export_png(self, path: str | Path) -> bool:
        """Save the whole diagram as a PNG; True on success."""
        return self.render_image().save(str(path), "PNG")

    def export_svg(self, path: str | Path) -> bool:
        """Save the whole diagram as an SVG drawing; True on success."""
        generator = QSvgGenerator()
        generator.setFileName(str(path))
        generator.setSize(self._content)
        generator.setViewBox(QRectF(0, 0, self._content.width(), self._content.height()))
        generator.setTitle(self.document.design.name)
        generator.setDescription("Feature-map volumes drawn by ConvStudio")
        painter = QPainter()
        if not painter.begin(generator):
            return False
        painter.fillRect(QRectF(0, 0, self._content.width(), self._content.height()),
                         self.palette().color(QPalette.ColorRole.Base))
        self.paint_diagram(painter, self.palette())
        painter.end()
        return Path(path).is_file()
