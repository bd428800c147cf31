"""A picture of the network: each feature-map volume drawn to (log) scale, as papers draw CNNs.

Every layer that makes new feature maps (convolution, pooling, flatten,
linear) gets a box: its height follows the spatial size, its thickness the
number of channels, its receding side the width; flat vectors are thin bars.
Layers that keep the shape (batch norm, dropout, activations) are named under
the box they act on. Blocks add lanes: a residual block's skip connection is
an arc over its body, a concat block's branches run side by side, and each
block's output is a box of its own with the shapes that meet at its merge
(:mod:`~convstudio.gui.designer.diagram_blocks`). The boxes' sizes and labels
are :mod:`~convstudio.gui.designer.diagram_volumes`'s. The same painting code
draws the widget, the PNG and the SVG export.
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPalette, QPen, QPixmap, QPolygonF,
)
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QWidget

from convstudio.gui import theme
from convstudio.gui.designer.diagram_blocks import BlockLayout, block_layout
from convstudio.gui.designer.diagram_volumes import (
    GAP, Volume, appearance, changed_span, extra_lines, pixmap_left, volume_for,
)
from convstudio.gui.designer.document import DesignDocument
from convstudio.gui.designer.stack_rows import has_blocks

_SHAPE_KEEPING = frozenset({"batchnorm", "dropout", "activation", "softmax"})
_HUES = {"input": None, "conv": 212, "pool": 28, "vector": 140, "merge": 280}
_ARC_STEP = 12.0  # px between the arcs of nested residual blocks
_MARGIN = 16.0
_LABEL_GAP = 8.0
_LABEL_WIDTHS_LIMIT = 4096  # volumes' label widths kept
_SHRINK_STEP = 96  # px: the widget keeps its width while the volumes take at most this much less


class NetworkDiagram(QWidget):
    """The feature-map volumes of the document's design.

    After each recheck the volumes are laid out again (cheap: text widths are
    cached) and only the span where they differ from before is repainted.
    """

    def __init__(self, document: DesignDocument, parent=None):
        super().__init__(parent)
        self.setObjectName("networkDiagram")
        self.setAccessibleName("Network diagram")
        self.setToolTip("Each box is a layer's output: height follows the image size, thickness the "
                        "channels (both on a log scale); thin bars are flat vectors. Dashed: sizes "
                        "unknown after a failing layer.")
        self.document = document
        self.volumes: list[Volume] = []
        self._content = QSize(200, 200)  # what the volumes take (the exported picture's size)
        self._extent = QSize(0, 0)  # the widget's size: it shrinks only in steps (see _layout)
        self._max_height = 0.0
        self._widths: dict[tuple[bool, str], float] = {}  # text widths by (bold, text), for this font
        self._metrics: tuple[QFontMetricsF, QFontMetricsF] | None = None  # for this font
        self._label_widths: dict[tuple[str, ...], float] = {}  # the widest label of a volume, by its labels
        self._pixmaps: dict[tuple, QPixmap] = {}  # each volume drawn, by what it looks like
        self._pens_cache: tuple | None = None
        self._blocks: BlockLayout | None = None  # lanes and links, for a design with blocks
        self._headroom = 0.0  # above the lanes: where skip arcs run
        self._band_pitch = 0.0  # from one lane to the next
        document.events.rechecked.connect(self._on_rechecked)
        document.events.collapsed.connect(self._on_collapsed)
        self._on_rechecked(())

    # -- layout --------------------------------------------------------------
    def _small_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        return font

    def _on_rechecked(self, _indices) -> None:
        """Lay the volumes out again and repaint the span where they differ from before."""
        before, extent_before = self.volumes, self._extent
        self._update_volumes()
        if self._blocks is not None:  # lanes and links: drawn whole (designs with blocks are short)
            self.updateGeometry()
            self.update()
            return
        if self._extent != extent_before:
            self.updateGeometry()
            self.update()
            return
        span = changed_span(before, self.volumes, self._content.width())
        if span is not None:
            left, right = span
            self.update(int(left), 0, int(math.ceil(right - left)) + 1, self._content.height())

    def _on_collapsed(self, _path) -> None:
        """A block collapsed in the stack is drawn as its output alone; expanded, whole again."""
        self._on_rechecked(())

    def _update_volumes(self) -> None:
        report = self.document.report
        design = self.document.design
        if has_blocks(design.layers):
            self._blocks = block_layout(report, design.layers, volume_for("input", "input", report.input_shape, "ok"),
                                        volume_for, self._measure, self.document.collapsed)
            self.volumes = self._blocks.volumes
            self._layout_blocks()
            self._pixmaps = {}
            return
        self._blocks = None
        self._headroom = self._band_pitch = 0.0
        first_problem = report.problems[0].index if report.problems else None
        volumes = [volume_for("input", "input", report.input_shape, "ok")]
        for shape in report.layers:
            state = ("error" if shape.problem is not None
                     else "affected" if first_problem is not None and shape.index > first_problem else "ok")
            if shape.kind in _SHAPE_KEEPING and state != "error":
                volumes[-1].extras.append(shape.name)
                continue
            volumes.append(volume_for(shape.name, shape.kind, shape.output_shape, state))
        self.volumes = volumes
        self._layout()
        # Keep the pixmaps of volumes still shown; the others will not be asked for again soon.
        ratio = self.devicePixelRatioF()
        keep = {appearance(volume, self._max_height, ratio) for volume in volumes}
        self._pixmaps = {key: pixmap for key, pixmap in self._pixmaps.items() if key in keep}

    def _text_width(self, text: str, bold: bool, metrics: QFontMetricsF) -> float:
        key = (bold, text)
        width = self._widths.get(key)
        if width is None:
            width = self._widths[key] = metrics.horizontalAdvance(text)
        return width

    def _font_metrics(self) -> tuple[QFontMetricsF, QFontMetricsF]:
        """Metrics of the titles' (bold) and the labels' (small) fonts, made once per font."""
        if self._metrics is None:
            bold = QFont(self.font())
            bold.setBold(True)
            self._metrics = QFontMetricsF(bold), QFontMetricsF(self._small_font())
        return self._metrics

    def _measure(self, volume: Volume) -> float:
        """How wide ``volume`` is drawn: its box or its widest label (title bold, the rest small)."""
        labels = (volume.title, volume.shape_text, *extra_lines(volume))
        label_widths = self._label_widths
        width = label_widths.get(labels)
        if width is None:
            title_metrics, small_metrics = self._font_metrics()
            width = max(self._text_width(text, index == 0, title_metrics if index == 0 else small_metrics)
                        for index, text in enumerate(labels))
            if len(label_widths) > _LABEL_WIDTHS_LIMIT:
                label_widths.clear()
            label_widths[labels] = width
        return max(volume.thickness + volume.depth, width)

    def _label_height(self, lines: int) -> float:
        title_metrics, small_metrics = self._font_metrics()
        return title_metrics.height() + lines * small_metrics.height() + 4

    def _layout_blocks(self) -> None:
        """Sizes of a design with blocks: lanes one above another, room for the arcs above them."""
        blocks = self._blocks
        self._max_height = max((v.height + v.depth * 0.75 for v in self.volumes), default=0.0)
        most_extras = max((len(extra_lines(v)) for v in self.volumes), default=0)
        lane = 2 * _MARGIN + 8 + self._max_height + _LABEL_GAP + self._label_height(1 + most_extras)
        self._headroom = _ARC_STEP * blocks.levels + (14.0 if blocks.levels else 0.0)
        self._band_pitch = lane + self._headroom  # every lane has room for arcs above it
        right = max((v.x + v.width for v in self.volumes), default=0.0)
        self._content = QSize(int(right + _MARGIN), int(math.ceil(blocks.bands * self._band_pitch)))
        self._extent = self._content
        self.setMinimumSize(self._extent)

    def _layout(self) -> None:
        title_metrics, small_metrics = self._font_metrics()
        x = _MARGIN
        self._max_height = max((v.height + v.depth * 0.75 for v in self.volumes), default=0.0)
        most_extras = 0
        for volume in self.volumes:
            most_extras = max(most_extras, len(extra_lines(volume)))
            width = self._measure(volume)
            volume.width = width
            volume.x = x
            x += width + GAP
        lines = 1 + most_extras
        label_height = title_metrics.height() + lines * small_metrics.height() + 4
        height = 2 * _MARGIN + 8 + self._max_height + _LABEL_GAP + label_height
        self._content = QSize(int(x - GAP + _MARGIN), int(math.ceil(height)))
        # The widget grows with the volumes but shrinks only by a step: spinning a value up and
        # down then leaves the scroll bar (and the volumes after the changed one) as they are.
        width = self._content.width()
        if width <= self._extent.width() < width + _SHRINK_STEP:
            width = self._extent.width()
        self._extent = QSize(width, self._content.height())
        self.setMinimumSize(self._extent)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:  # cached text widths belong to the old font
            self._widths = {}
            self._metrics = None
            self._label_widths = {}
            if self._blocks is not None:
                self._update_volumes()
            else:
                self._layout()
            self.updateGeometry()
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.PaletteChange):
            self._forget_pixmaps()
            self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return self._extent

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
        """Draw every volume with ``painter`` (used by the PNG and SVG export; the widget caches volumes)."""
        pens = self._pens(palette)
        if self._blocks is not None:
            self._paint_links(painter, palette, pens)
        for volume in self.volumes:
            if visible is not None and (volume.x > visible.right() or volume.x + volume.width < visible.left()):
                continue
            self._paint_volume(painter, volume, palette, pens)

    def _pens(self, palette: QPalette) -> tuple:
        """Fonts, line heights and text colours shared by every volume."""
        bold = QFont(self.font())
        bold.setBold(True)
        small = self._small_font()
        text = palette.color(QPalette.ColorRole.WindowText)
        muted = theme.mix(text, palette.color(QPalette.ColorRole.Window), 0.35)
        return bold, small, QFontMetricsF(bold).height(), QFontMetricsF(small).height(), text, muted

    def _paint_volume(self, painter: QPainter, volume: Volume, palette: QPalette, pens: tuple) -> None:
        bold, small, title_line, line, text, muted = pens
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        top = self._lane_top(volume.band)
        mid = top + _MARGIN + self._max_height / 2 + 8
        label_top = top + _MARGIN + self._max_height + _LABEL_GAP + 8
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
        left_edge, span = volume.x - GAP / 2 + 2, volume.width + GAP - 4
        if self._blocks is not None:
            # Links run under the labels: a patch of background keeps the text readable over them.
            widths = [self._text_width(volume.title, True, self._font_metrics()[0])]
            widths += [self._text_width(label, False, self._font_metrics()[1])
                       for label in (volume.shape_text, *extra_lines(volume))]
            height = title_line + line * (1 + len(extra_lines(volume)))
            width = max(widths) + 4
            painter.fillRect(QRectF(volume.x + volume.width / 2 - width / 2, label_top, width, height),
                             palette.color(QPalette.ColorRole.Base))
        painter.setFont(bold)
        painter.setPen(theme.error_color(palette) if volume.state == "error" else text)
        painter.drawText(QRectF(left_edge, label_top, span, title_line), Qt.AlignmentFlag.AlignHCenter, volume.title)
        painter.setFont(small)
        y = label_top + title_line
        painter.drawText(QRectF(left_edge, y, span, line), Qt.AlignmentFlag.AlignHCenter, volume.shape_text)
        painter.setPen(muted)
        for extra in extra_lines(volume):
            y += line
            painter.drawText(QRectF(left_edge, y, span, line), Qt.AlignmentFlag.AlignHCenter, extra)

    def _lane_top(self, band: int) -> float:
        """Where lane ``band`` begins (the arcs' room above the first lane included)."""
        return self._headroom + band * self._band_pitch

    def _anchor(self, volume: Volume, side: str) -> QPointF:
        """The middle of a volume's front face on its left or right side: where links meet it."""
        mid = self._lane_top(volume.band) + _MARGIN + self._max_height / 2 + 8 + volume.depth * 0.35
        left = volume.x + (volume.width - volume.thickness - volume.depth) / 2
        if side == "left":
            return QPointF(left - 2, mid)
        return QPointF(left + volume.thickness + volume.depth + 2, mid)  # past its receding side

    def _paint_links(self, painter: QPainter, palette: QPalette, pens: tuple) -> None:
        """The skip arcs over residual bodies and the lines into and out of lanes, under the volumes."""
        _bold, small, _title_line, line, text, muted = pens
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = theme.mix(text, palette.color(QPalette.ColorRole.Base), 0.25)
        pen = QPen(color, 1.6)
        painter.setFont(small)
        for link in self._blocks.links:
            start, end = self._anchor(link.source, "right"), self._anchor(link.target, "left")
            path = QPainterPath(start)
            if link.kind == "arc":
                # Up from the block's input, over the body, down into the block's output.
                y = self._lane_top(link.target.band) - self._headroom + 8 + _ARC_STEP * link.level
                path.cubicTo(QPointF(start.x() + 14, start.y()), QPointF(start.x() + 4, y), QPointF(start.x() + 18, y))
                path.lineTo(QPointF(end.x() - 18, y))
                path.cubicTo(QPointF(end.x() - 4, y), QPointF(end.x() - 14, end.y()), end)
                label_at = QPointF((start.x() + end.x()) / 2, y)
            else:
                lane_y = (self._anchor(Volume("", "", [], "input", "ok", 0, 0, 0, band=link.via_band), "left").y()
                          if link.via_band is not None else None)
                turn_out, turn_in = start.x() + 10, end.x() - 10
                if lane_y is not None:  # an empty branch: along its own lane, from the input to the output
                    path.lineTo(QPointF(turn_out, start.y()))
                    path.lineTo(QPointF(turn_out, lane_y))
                    path.lineTo(QPointF(turn_in, lane_y))
                    path.lineTo(QPointF(turn_in, end.y()))
                elif end.y() > start.y():  # fanning out: down just after the source
                    path.lineTo(QPointF(turn_out, start.y()))
                    path.lineTo(QPointF(turn_out, end.y()))
                else:  # fanning in: up just before the target
                    path.lineTo(QPointF(turn_in, start.y()))
                    path.lineTo(QPointF(turn_in, end.y()))
                path.lineTo(end)
                label_at = None
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(path)
            # An arrowhead where the link enters: the sum (or join) is there.
            painter.setBrush(color)
            painter.drawPolygon(QPolygonF([end, end + QPointF(-7, -3.5), end + QPointF(-7, 3.5)]))
            if link.label and label_at is not None:  # on the arc, over a patch of background
                width = QFontMetricsF(small).horizontalAdvance(link.label) + 8
                box = QRectF(label_at.x() - width / 2, label_at.y() - line / 2, width, line)
                painter.fillRect(box, palette.color(QPalette.ColorRole.Base))
                painter.setPen(muted)
                painter.drawText(box, Qt.AlignmentFlag.AlignCenter, link.label)

    def _volume_pixmap(self, volume: Volume, palette: QPalette) -> QPixmap:
        """``volume`` with its labels, drawn once and kept while it looks the same."""
        ratio = self.devicePixelRatioF()
        key = appearance(volume, self._max_height, ratio)
        pixmap = self._pixmaps.get(key)
        if pixmap is None:
            left = pixmap_left(volume)
            width, height = volume.x + volume.width + GAP / 2 - left, self._content.height()
            pixmap = QPixmap(int(math.ceil(width * ratio)), int(math.ceil(height * ratio)))
            pixmap.setDevicePixelRatio(ratio)
            pixmap.fill(palette.color(QPalette.ColorRole.Base))
            painter = QPainter(pixmap)
            painter.translate(-left, 0)  # whole pixels: drawn exactly as it is drawn in place
            if self._pens_cache is None:
                self._pens_cache = self._pens(palette)
            self._paint_volume(painter, volume, palette, self._pens_cache)
            painter.end()
            self._pixmaps[key] = pixmap
        return pixmap

    def _forget_pixmaps(self) -> None:
        self._pixmaps = {}
        self._pens_cache = None

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        # Each volume is a cached pixmap (they do not overlap): an edit redraws only the volumes
        # that changed, and moving one along is a copy.
        palette = self.palette()
        painter = QPainter(self)
        area = QRectF(event.rect())
        painter.fillRect(event.rect(), palette.color(QPalette.ColorRole.Base))
        if self._blocks is not None:  # lanes: volumes may share columns, and links run between them
            self.paint_diagram(painter, palette, area)
            painter.end()
            return
        for volume in self.volumes:
            left = pixmap_left(volume)
            if left > area.right() or volume.x + volume.width + GAP / 2 < area.left():
                continue
            painter.drawPixmap(left, 0, self._volume_pixmap(volume, palette))
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
