"""Shows the latest processed frame with its faces: box, and the name with its confidence (the
operator's 0-100 scale, 50 = the bar), "unknown", "checking…", or why a face does not count ("too
small", "blurry"). Paints only; it is handed frames and never computes anything about them."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop.live_worker import CHECKING, KNOWN, NOT_VOTING, FaceOverlay

COLOURS = {KNOWN: QColor("#2e7d32"), CHECKING: QColor("#9e9e9e"), NOT_VOTING: QColor("#9e9e9e")}
UNKNOWN_COLOUR = QColor("#f9a825")


def face_label(face: FaceOverlay) -> str:
    """The tag over a face: "Ada Lovelace 78", "unknown 31", "checking…", "too small"."""
    if face.state == NOT_VOTING:  # never shown as anyone: it does not count towards a mark
        return face.hint
    if face.state == CHECKING:  # not read yet: waiting for its turn
        return "checking…"
    if face.state == KNOWN:
        return f"{face.name} {face.confidence}" if face.confidence is not None else str(face.name)
    if face.confidence is None:  # nobody enrolled: nothing to compare with
        return "unknown"
    # at or above the bar but refused: two enrolled people too close to call
    return f"unknown {face.confidence}" if face.confidence < 50 else "unknown (too close to call)"


def face_colour(face: FaceOverlay) -> QColor:
    return COLOURS.get(face.state, UNKNOWN_COLOUR)


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
            colour = face_colour(face)
            pen = QPen(colour, 2)
            if face.state == NOT_VOTING:
                pen.setStyle(Qt.PenStyle.DashLine)  # followed, but not counted
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(box)
            label = face_label(face)
            tw, th = metrics.horizontalAdvance(label) + 8, metrics.height() + 2
            tag = QRectF(box.x(), max(target.y(), box.y() - th), tw, th)
            p.fillRect(tag, colour)
            p.setPen(QColor("#ffffff") if face.state == KNOWN else QColor("#000000"))
            p.drawText(tag, Qt.AlignmentFlag.AlignCenter, label)
