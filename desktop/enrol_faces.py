"""Choosing one face in a photo or camera frame that shows several: the enrolment wizard shows the photo
with numbered boxes; a click on a box, or its number key, chooses that face (`face_chosen`), and the
chosen face is then checked like any other sample."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from core.vision.detect.base import Detection
from desktop.images import bgr_to_qimage

OVERVIEW_SIDE = 640  # pixels: the longest side of the photo shown for choosing a face
Box = tuple[float, float, float, float]


def faces_overview(image: np.ndarray, detections: list[Detection],
                   longest: int = OVERVIEW_SIDE) -> tuple[QImage, list[Box]]:
    """A smaller copy of the image with each face boxed and numbered from 1 (left to right, the order of
    the detections), and the boxes in its pixels. Thread-safe: a QImage."""
    scale = min(1.0, longest / max(image.shape[:2]))
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image.copy()
    boxes: list[Box] = []
    for number, d in enumerate(detections, start=1):
        x1, y1, x2, y2 = (float(v) * scale for v in d.box[:4])
        boxes.append((x1, y1, x2, y2))
        cv2.rectangle(small, (round(x1), round(y1)), (round(x2), round(y2)), (0, 200, 255), 2)
        cv2.putText(small, str(number), (round(x1) + 3, max(14, round(y1) - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6, (0, 200, 255), 2, cv2.LINE_AA)
    return bgr_to_qimage(small), boxes


class FacePicker(QWidget):
    """The overview scaled to fit (aspect kept), the chosen face outlined; clicks map back to the boxes."""

    face_chosen = Signal(int)  # the face's index (0-based; its number on screen is one more)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: QImage | None = None
        self.boxes: list[Box] = []
        self.chosen: int | None = None
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)  # never widens the wizard
        self.setMinimumSize(QSize(320, 220))
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Click the face of the person being enrolled, or press its number")

    def set_faces(self, image: QImage | None, boxes: list[Box] | None, chosen: int | None = None) -> None:
        self.image, self.boxes, self.chosen = image, list(boxes or []), chosen
        self.update()

    def _placement(self) -> tuple[float, float, float]:
        """(scale, x offset, y offset) of the image inside the widget."""
        if self.image is None or self.image.isNull():
            return 1.0, 0.0, 0.0
        scale = min(self.width() / self.image.width(), self.height() / self.image.height())
        return scale, (self.width() - self.image.width() * scale) / 2, (self.height() - self.image.height() * scale) / 2

    def box_rect(self, index: int) -> QRect:
        """Where face `index` is drawn, in this widget's coordinates."""
        scale, dx, dy = self._placement()
        x1, y1, x2, y2 = self.boxes[index]
        return QRectF(dx + x1 * scale, dy + y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale).toRect()

    def face_at(self, pos: QPoint) -> int | None:
        """The face under `pos` (the smallest box when boxes overlap), or None."""
        hits = [i for i in range(len(self.boxes)) if self.box_rect(i).contains(pos)]
        return min(hits, key=lambda i: self.box_rect(i).width() * self.box_rect(i).height()) if hits else None

    def choose(self, index: int) -> bool:
        if not 0 <= index < len(self.boxes):
            return False
        self.chosen = index
        self.update()
        self.face_chosen.emit(index)
        return True

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        index = self.face_at(event.position().toPoint())
        if index is not None and event.button() == Qt.MouseButton.LeftButton:
            self.choose(index)
        else:
            super().mousePressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#202020"))
        if self.image is None or self.image.isNull():
            return
        scale, dx, dy = self._placement()
        target = QRectF(dx, dy, self.image.width() * scale, self.image.height() * scale)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(target, self.image)
        if self.chosen is not None and 0 <= self.chosen < len(self.boxes):
            painter.setPen(QPen(QColor("#2e7d32"), 4))
            painter.drawRect(self.box_rect(self.chosen))
