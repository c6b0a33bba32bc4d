"""A small line chart drawn with QPainter: named series of (x, y) points, axes with min/max labels
(never two equal ones: `y_range`, `axis_labels`), a legend. Adding points only stores them and marks the chart dirty; `refresh()` (called by the page's
timer, ~10 Hz) repaints when something changed, so a fast event stream costs no repaint per point."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
MAX_POINTS = 2000  # per series; beyond it every other point is dropped (the curve keeps its shape)


def _fmt(value: float, digits: int = 4) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 0.01:
        return f"{value:.{max(2, digits - 2)}e}"
    return f"{value:.{digits}g}"


def y_range(lo: float, hi: float) -> tuple[float, float]:
    """The y axis for values from `lo` to `hi`: a flat (or all but flat) series gets a band of 5 % of its
    value around it (±0.5 around zero), so it is drawn in the middle rather than along an edge."""
    span = hi - lo
    scale = max(abs(lo), abs(hi))
    if span <= 1e-9 * scale or span == 0:
        mid = (lo + hi) / 2
        pad = abs(mid) * 0.05 or 0.5
        return mid - pad, mid + pad
    return lo, hi


def axis_labels(lo: float, hi: float) -> tuple[str, str]:
    """Labels for the bottom and top of an axis, with as many digits as it takes for them to differ."""
    for digits in range(4, 16):
        bottom, top = _fmt(lo, digits), _fmt(hi, digits)
        if bottom != top:
            return bottom, top
    return bottom, top


class LineChart(QWidget):
    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.series: dict[str, list[tuple[float, float]]] = {}
        self._colors: dict[str, QColor] = {}
        self._dirty = False
        self.repaints = 0  # how many times refresh() asked for a repaint (for tests)
        self.setMinimumSize(220, 150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # ------------------------------------------------------------------ data

    def add_point(self, name: str, x: float, y: float | None) -> None:
        """Store a point; non-numbers and non-finite values (the trainer writes NaN as null) are skipped."""
        if y is None or isinstance(y, bool) or not isinstance(y, (int, float)) or not math.isfinite(y):
            return
        points = self.series.get(name)
        if points is None:
            points = self.series[name] = []
            self._colors[name] = QColor(PALETTE[(len(self._colors)) % len(PALETTE)])
        points.append((float(x), float(y)))
        if len(points) > MAX_POINTS:
            del points[1:-1:2]
        self._dirty = True

    def point_count(self, name: str | None = None) -> int:
        if name is not None:
            return len(self.series.get(name, ()))
        return sum(len(p) for p in self.series.values())

    def clear(self) -> None:
        self.series.clear()
        self._colors.clear()
        self._dirty = True

    def refresh(self) -> None:
        if self._dirty:
            self._dirty = False
            self.repaints += 1
            self.update()

    # ------------------------------------------------------------------ drawing

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        text_color = self.palette().text().color()
        painter.setPen(text_color)
        fm = painter.fontMetrics()
        line_h = fm.height()
        painter.drawText(QRectF(0, 2, self.width(), line_h), Qt.AlignmentFlag.AlignHCenter, self.title)

        points = [p for pts in self.series.values() for p in pts]
        left, top, right, bottom = fm.horizontalAdvance("0.000e+00") + 8, line_h + 6, 8, line_h * 2 + 8
        plot = QRectF(left, top, max(10, self.width() - left - right), max(10, self.height() - top - bottom))
        painter.setPen(QPen(text_color, 1))
        painter.drawRect(plot)
        if not points:
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "no data yet")
            painter.end()
            return

        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        x0, x1 = min(xs), max(xs)
        y0, y1 = y_range(min(ys), max(ys))
        if x1 == x0:
            x0, x1 = x0 - 0.5, x1 + 0.5
        y0_text, y1_text = axis_labels(y0, y1)

        def to_screen(x: float, y: float) -> QPointF:
            return QPointF(plot.left() + (x - x0) / (x1 - x0) * plot.width(),
                           plot.bottom() - (y - y0) / (y1 - y0) * plot.height())

        painter.drawText(QRectF(0, plot.top() - 2, left - 4, line_h), Qt.AlignmentFlag.AlignRight, y1_text)
        painter.drawText(QRectF(0, plot.bottom() - line_h + 2, left - 4, line_h), Qt.AlignmentFlag.AlignRight,
                         y0_text)
        painter.drawText(QRectF(plot.left(), plot.bottom() + 2, 80, line_h), Qt.AlignmentFlag.AlignLeft, _fmt(x0))
        painter.drawText(QRectF(plot.right() - 80, plot.bottom() + 2, 80, line_h), Qt.AlignmentFlag.AlignRight,
                         _fmt(x1))

        painter.save()
        painter.setClipRect(plot.adjusted(-2, -2, 2, 2))
        for name, pts in self.series.items():
            color = self._colors[name]
            painter.setPen(QPen(color, 1.6))
            if len(pts) == 1:
                painter.setBrush(color)
                painter.drawEllipse(to_screen(*pts[0]), 2.5, 2.5)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                continue
            path = QPainterPath(to_screen(*pts[0]))
            for x, y in pts[1:]:
                path.lineTo(to_screen(x, y))
            painter.drawPath(path)
        painter.restore()

        # legend along the bottom
        x = plot.left()
        y = plot.bottom() + line_h + 4
        for name, pts in self.series.items():
            label = f"{name} {_fmt(pts[-1][1])}"
            painter.fillRect(QRectF(x, y + line_h / 2 - 2, 10, 4), self._colors[name])
            painter.setPen(text_color)
            painter.drawText(QRectF(x + 13, y, fm.horizontalAdvance(label) + 4, line_h), label)
            x += fm.horizontalAdvance(label) + 26
        painter.end()
