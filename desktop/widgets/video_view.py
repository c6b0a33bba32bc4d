"""Shows the latest processed frame with its faces: box, name and score (or "unknown"), and a hint
under faces that are too small or blurry to be recognised reliably. Paints only; it is handed
frames and never computes anything about them."""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop.live_worker import FaceOverlay

KNOWN = QColor("#2e7d32")
UNKNOWN = QColor("#f9a825")
HINT = QColor("#ffffff")


def face_label(face: FaceOverlay) -> str:
    if face.name:
        return f"{face.name}  {face.score:.2f}"
    if math.isnan(face.score):  # not read yet: waiting for its turn
        return "checking…"
    # below the threshold, or nobody enrolled (then there is no score at all)
    return f"unknown  {face.score:.2f}" if face.score > -1.0 else "unknown"


class VideoView(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.image = QImage()
        self.faces: list[FaceOverlay] = []
        self.placeholder = "No video. Choose a source and press Start."
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 180)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(960, 540)

    def show_frame(self, image: QImage, faces: list[FaceOverlay]) -> None:
        self.image, self.faces = image, faces
        self.update()

    def clear(self, message: str) -> None:
        self.image, self.faces, self.placeholder = QImage(), [], message
        self.update()

    def image_rect(self) -> QRectF:
        """Where the frame is drawn: scaled to fit, centred."""
        if self.image.isNull():
            return QRectF()
        w, h = self.image.width(), self.image.height()
        scale = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * scale) / 2, (self.height() - h * scale) / 2, w * scale, h * scale)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#1e1e1e"))
        if self.image.isNull():
            p.setPen(QColor("#bbbbbb"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        target = self.image_rect()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(target, self.image)
        scale = target.width() / self.image.width()
        font = QFont(self.font())
        font.setPointSizeF(max(8.0, font.pointSizeF()))
        font.setBold(True)
        p.setFont(font)
        metrics = p.fontMetrics()
        for face in self.faces:
            x1, y1, x2, y2 = face.box
            box = QRectF(target.x() + x1 * scale, target.y() + y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale)
            colour = KNOWN if face.name else UNKNOWN
            p.setPen(QPen(colour, 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(box)
            label = face_label(face)
            tw, th = metrics.horizontalAdvance(label) + 8, metrics.height() + 2
            tag = QRectF(box.x(), max(target.y(), box.y() - th), tw, th)
            p.fillRect(tag, colour)
            p.setPen(QColor("#000000") if not face.name else QColor("#ffffff"))
            p.drawText(tag, Qt.AlignmentFlag.AlignCenter, label)
            if face.hint:
                hint_rect = QRectF(box.x(), box.bottom() + 2, metrics.horizontalAdvance(face.hint) + 8, th)
                p.fillRect(hint_rect, QColor(0, 0, 0, 160))
                p.setPen(HINT)
                p.drawText(hint_rect, Qt.AlignmentFlag.AlignCenter, face.hint)
