"""FAR and FRR of the site's own pairs against the threshold, drawn with QPainter, with the bar in force
and the suggested threshold marked. Shows a note instead when there is no curve (e.g. the gallery is
too small). Its height is fixed: in the Settings tab it must not take the window's spare height."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

FAR_COLOUR = QColor("#c62828")
FRR_COLOUR = QColor("#1565c0")
CURRENT_COLOUR = QColor("#616161")
SUGGESTED_COLOUR = QColor("#2e7d32")
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 44, 12, 22, 30
PLOT_HEIGHT = 220


class CalibrationPlot(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thresholds = np.zeros(0)
        self.far = np.zeros(0)
        self.frr = np.zeros(0)
        self.current: float | None = None
        self.suggested: float | None = None
        self.note = "No calibration yet."
        self.setMinimumSize(320, PLOT_HEIGHT)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(480, PLOT_HEIGHT)

    @property
    def has_curve(self) -> bool:
        return len(self.thresholds) > 1

    def set_curve(self, thresholds: np.ndarray, far: np.ndarray, frr: np.ndarray, suggested: float | None = None) -> None:
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.far = np.asarray(far, dtype=np.float64)
        self.frr = np.asarray(frr, dtype=np.float64)
        self.suggested = suggested
        self.note = ""
        self.update()

    def set_current(self, threshold: float | None) -> None:
        self.current = threshold
        self.update()

    def clear(self, note: str) -> None:
        self.thresholds = self.far = self.frr = np.zeros(0)
        self.suggested = None
        self.note = note
        self.update()

    # ------------------------------------------------------------------ drawing

    def _plot_rect(self) -> QRectF:
        return QRectF(MARGIN_LEFT, MARGIN_TOP, max(1, self.width() - MARGIN_LEFT - MARGIN_RIGHT),
                      max(1, self.height() - MARGIN_TOP - MARGIN_BOTTOM))

    def _x_range(self) -> tuple[float, float]:
        """The thresholds where something happens: from a little below where false accepts start to
        fall to a little above where false rejects reach 1, always showing both marked thresholds."""
        if not self.has_curve:
            return 0.0, 1.0
        t = self.thresholds
        moving = np.nonzero((self.far < 0.999) & (self.frr < 0.999))[0]
        lo, hi = (float(t[moving[0]]), float(t[moving[-1]])) if len(moving) else (float(t[0]), float(t[-1]))
        for marked in (self.current, self.suggested):
            if marked is not None:
                lo, hi = min(lo, marked), max(hi, marked)
        pad = max(0.02, (hi - lo) * 0.15)
        return max(float(t[0]), lo - pad), min(float(t[-1]), hi + pad)

    def to_point(self, threshold: float, rate: float) -> QPointF:
        """Widget coordinates of (threshold, rate); rates are drawn 0..1 bottom to top."""
        rect = self._plot_rect()
        lo, hi = self._x_range()
        x = rect.left() + (threshold - lo) / max(hi - lo, 1e-9) * rect.width()
        y = rect.bottom() - float(np.clip(rate, 0.0, 1.0)) * rect.height()
        return QPointF(x, y)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        if not self.has_curve:
            painter.setPen(self.palette().text().color())
            painter.drawText(self.rect().adjusted(12, 12, -12, -12),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.note)
            return
        self._draw_axes(painter)
        painter.save()
        painter.setClipRect(self._plot_rect())
        for rates, colour in ((self.far, FAR_COLOUR), (self.frr, FRR_COLOUR)):
            path = QPainterPath(self.to_point(self.thresholds[0], rates[0]))
            for t, r in zip(self.thresholds[1:], rates[1:]):
                path.lineTo(self.to_point(t, r))
            painter.setPen(QPen(colour, 2))
            painter.drawPath(path)
        painter.restore()
        self._draw_marker(painter, self.current, CURRENT_COLOUR, "bar", Qt.PenStyle.DashLine, 0)
        self._draw_marker(painter, self.suggested, SUGGESTED_COLOUR, "suggested", Qt.PenStyle.SolidLine, 1)
        self._draw_legend(painter)

    def _draw_axes(self, painter: QPainter) -> None:
        rect = self._plot_rect()
        text = self.palette().text().color()
        painter.setPen(QPen(text, 1))
        painter.drawRect(rect)
        lo, hi = self._x_range()
        metrics = painter.fontMetrics()
        for rate in (0.0, 0.5, 1.0):
            p = self.to_point(lo, rate)
            painter.drawText(QRectF(0, p.y() - 8, MARGIN_LEFT - 4, 16),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{rate:.1f}")
        for t in np.linspace(lo, hi, 7):
            p = self.to_point(t, 0.0)
            painter.drawLine(p, QPointF(p.x(), p.y() + 4))
            label = f"{t:.2f}" if hi - lo < 0.6 else f"{t:.1f}"
            label = "0.00" if label.strip("-0.") == "" else label
            painter.drawText(QPointF(p.x() - metrics.horizontalAdvance(label) / 2, p.y() + 6 + metrics.ascent()), label)

    def _draw_marker(self, painter: QPainter, threshold: float | None, colour: QColor, label: str,
                     style: Qt.PenStyle, slot: int) -> None:
        if threshold is None:
            return
        lo, hi = self._x_range()
        if not lo <= threshold <= hi:
            return
        rect = self._plot_rect()
        top, bottom = self.to_point(threshold, 1.0), self.to_point(threshold, 0.0)
        painter.setPen(QPen(colour, 2, style))
        painter.drawLine(top, bottom)
        text = f"{label} {threshold:.3f}"
        width = painter.fontMetrics().horizontalAdvance(text)
        x = top.x() + 4 if top.x() + 4 + width < rect.right() else top.x() - 4 - width  # keep it inside
        line = painter.fontMetrics().height()
        painter.drawText(QPointF(x, rect.top() + line + line * slot), text)

    def _draw_legend(self, painter: QPainter) -> None:
        x = MARGIN_LEFT
        for name, colour in (("FAR (false accepts)", FAR_COLOUR), ("FRR (false rejects)", FRR_COLOUR)):
            painter.setPen(QPen(colour, 3))
            painter.drawLine(QPointF(x, 10), QPointF(x + 18, 10))
            painter.setPen(self.palette().text().color())
            painter.drawText(QPointF(x + 22, 14), name)
            x += 30 + painter.fontMetrics().horizontalAdvance(name)
