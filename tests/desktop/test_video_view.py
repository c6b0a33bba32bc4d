from __future__ import annotations

import math

from PySide6.QtGui import QImage

from desktop.live_worker import FaceOverlay
from desktop.widgets.video_view import VideoView, face_label


def _face(name, score) -> FaceOverlay:
    return FaceOverlay((10, 10, 50, 50), name, score, 1)


def test_labels_say_who_unknown_or_still_checking() -> None:
    assert face_label(_face("Ada", 0.951)) == "Ada  0.95"
    assert face_label(_face(None, 0.81)) == "unknown  0.81"
    assert face_label(_face(None, -1.0)) == "unknown"  # nobody enrolled: no score to show
    assert face_label(_face(None, math.nan)) == "checking…"  # waiting for its turn to be read


def test_the_frame_is_letterboxed_into_the_widget(qtbot) -> None:
    view = VideoView()
    qtbot.addWidget(view)
    view.resize(800, 800)
    image = QImage(640, 360, QImage.Format.Format_RGB888)
    image.fill(0)
    view.show_frame(image, [_face("Ada", 0.9)])
    rect = view.image_rect()
    assert (rect.width(), rect.height()) == (800, 450) and rect.y() == 175
    assert not view.grab().isNull()  # paints with overlays without error
