"""Numpy BGR images and JPEG bytes to Qt images. QImage (not QPixmap) is safe to build on any thread."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap


def bgr_to_qimage(image: np.ndarray) -> QImage:
    """A deep copy, so the QImage outlives the numpy buffer."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def jpeg_to_qimage(data: bytes | None) -> QImage:
    """A null QImage when there is nothing to show or the bytes are not an image."""
    if not data:
        return QImage()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return bgr_to_qimage(image) if image is not None else QImage()


def thumbnail(image: QImage, size: int) -> QPixmap:
    """A square-bounded pixmap (GUI thread only)."""
    if image.isNull():
        return QPixmap()
    return QPixmap.fromImage(image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                          Qt.TransformationMode.SmoothTransformation))
