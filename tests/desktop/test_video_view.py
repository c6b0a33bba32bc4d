from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from core.attendance.recogniser import NOT_READ, FaceReport, FrameReport
from core.gallery.matching import Match
from core.vision.quality import FaceQuality
from desktop.live_worker import CHECKING, KNOWN, NOT_VOTING, UNKNOWN, FaceOverlay, overlays
from desktop.widgets.video_view import VideoView, face_colour, face_label

ADA = 7


def _report(match: Match, *, votes: bool = True, hint: str = "", route: str = "direct", read: bool = True) -> FaceReport:
    quality = FaceQuality(face_size=14.0 if hint == "too small" else 120.0, eye_distance=40.0, sharpness=90.0,
                          yaw=0.0, roll=0.0, face_width=100.0, detail=90.0)
    return FaceReport(np.array([10.0, 20.0, 60.0, 80.0]), np.zeros((5, 2)), quality, 3, match, read=read,
                      votes=votes, hint=hint, route=route)


def _scale(score: float, route: str) -> int:
    """A stand-in for Recogniser.confidence_for: bar 0.9 (0.95 on the small-face route)."""
    bar = 0.95 if route == "small" else 0.9
    return int(round(50 + (score - bar) * 500))


def _overlay(report: FaceReport) -> FaceOverlay:
    (face,) = overlays(FrameReport(0.0, [report]), _scale)
    return face


def test_a_known_face_shows_its_name_and_confidence_never_the_cosine() -> None:
    face = _overlay(_report(Match(ADA, "Ada Lovelace", 0.9562, 0.4, ADA)))
    assert (face.state, face.name, face.confidence) == (KNOWN, "Ada Lovelace", 78)
    assert face_label(face) == "Ada Lovelace 78" and "0.95" not in face_label(face)
    assert face.box == (10.0, 20.0, 60.0, 80.0) and face.track_id == 3
    small = _overlay(_report(Match(ADA, "Ada Lovelace", 0.9562, 0.4, ADA), route="small"))
    assert small.confidence == 53  # judged on its own route's scale


def test_an_unknown_face_shows_unknown_with_its_confidence_below_the_bar() -> None:
    face = _overlay(_report(Match(None, None, 0.84, 0.3, ADA)))
    assert (face.state, face.name, face.confidence) == (UNKNOWN, None, 20)
    assert face_label(face) == "unknown 20"
    tie = _overlay(_report(Match(None, None, 0.93, 0.93, ADA)))  # above the bar, refused by the margin rule
    assert face_label(tie) == "unknown (too close to call)"
    nobody = _overlay(_report(Match(None, None, -1.0, -1.0, None)))  # nobody enrolled: no score at all
    assert face_label(nobody) == "unknown" and nobody.confidence is None


def test_a_face_not_read_yet_is_checking() -> None:
    face = _overlay(_report(Match(None, None, NOT_READ, NOT_READ, None), read=False))
    assert face.state == CHECKING and face_label(face) == "checking…"


def test_a_face_that_does_not_vote_shows_why_and_never_looks_recognised() -> None:
    # recognised as Ada while it was close; now too small (core's rule: it does not vote)
    for hint in ("too small", "blurry"):
        face = _overlay(_report(Match(ADA, "Ada Lovelace", 0.97, 0.4, ADA), votes=False, hint=hint, read=False))
        assert (face.state, face.name, face.confidence, face.hint) == (NOT_VOTING, None, None, hint)
        assert face_label(face) == hint and "Ada" not in face_label(face)
        known = _overlay(_report(Match(ADA, "Ada Lovelace", 0.97, 0.4, ADA)))
        assert face_colour(face) != face_colour(known)


def test_the_frame_is_letterboxed_into_the_widget(qtbot) -> None:
    view = VideoView()
    qtbot.addWidget(view)
    view.resize(800, 800)
    image = QImage(640, 360, QImage.Format.Format_RGB888)
    image.fill(0)
    faces = [FaceOverlay((10, 10, 50, 50), "Ada", 90, 1), FaceOverlay((60, 10, 90, 50), None, 20, 2, UNKNOWN),
             FaceOverlay((100, 10, 110, 20), None, None, 3, NOT_VOTING, "too small"),
             FaceOverlay((120, 10, 160, 50), None, None, 4, CHECKING)]
    view.show_frame(image, faces)
    rect = view.image_rect()
    assert (rect.width(), rect.height()) == (800, 450) and rect.y() == 175
    assert not view.grab().isNull()  # paints with overlays without error
