"""Only trustworthy faces vote: the rule (core.vision.quality.vote_verdict) and the recogniser's gate."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.attendance.marks import Attendance
from core.attendance.recogniser import RecognitionSettings, Recogniser
from core.gallery.enrol import Enroller
from core.gallery.store import Gallery
from core.storage.db import Database
from core.vision.align import ARCFACE_TEMPLATE
from core.vision.degrade import face_width
from core.vision.detect import Detection, Detector
from core.vision.imageio import read_image
from core.vision.models.dsr import DSRNet
from core.vision.models.superres import SuperResolver
from core.vision.pipeline import FacePipeline, build_pipeline
from core.vision.quality import (
    BLURRY_SHARPNESS, DIRECT_MIN_FACE_WIDTH, DSR_MIN_FACE_WIDTH, FaceQuality, native_sharpness, vote_verdict,
)
from tests.conftest import shared_path


def _quality(width: float, detail: float = 300.0) -> FaceQuality:
    return FaceQuality(face_size=width, eye_distance=width / 3.2, sharpness=detail, yaw=0.0, roll=0.0,
                       face_width=width, detail=detail)


def test_the_floors_depend_on_the_route() -> None:
    assert DSR_MIN_FACE_WIDTH < DIRECT_MIN_FACE_WIDTH
    assert vote_verdict(_quality(DIRECT_MIN_FACE_WIDTH), "direct") == (True, "")
    assert vote_verdict(_quality(DIRECT_MIN_FACE_WIDTH - 1), "direct") == (False, "too small")
    assert vote_verdict(_quality(DIRECT_MIN_FACE_WIDTH - 1), "small") == (True, "")  # through a DSR
    assert vote_verdict(_quality(DSR_MIN_FACE_WIDTH - 1), "small") == (False, "too small")  # never
    assert vote_verdict(_quality(200, BLURRY_SHARPNESS - 1), "direct") == (False, "blurry")
    assert vote_verdict(_quality(10, BLURRY_SHARPNESS - 1), "direct") == (False, "too small")  # size first
    with pytest.raises(ValueError, match="unknown route"):
        vote_verdict(_quality(100), "sideways")


def test_sharpness_is_judged_at_the_face_own_resolution_and_contrast() -> None:
    rng = np.random.default_rng(0)
    sharp = cv2.GaussianBlur(rng.integers(0, 256, (24, 24), dtype=np.uint8), (0, 0), 0.7)
    upscaled = cv2.resize(sharp, (112, 112), interpolation=cv2.INTER_CUBIC)  # a small face's aligned crop
    assert cv2.Laplacian(upscaled, cv2.CV_32F).var() < BLURRY_SHARPNESS  # looks blurry at 112 px...
    assert native_sharpness(upscaled, 24) > BLURRY_SHARPNESS  # ...but not at its own 24 px
    face = cv2.GaussianBlur(rng.normal(0, 1, (112, 112)).astype(np.float32), (0, 0), 1.0)
    face = 128 + face / face.std() * 60  # a well-lit face: grey std 60
    dim = 20 + (face - 128) * 0.25  # the same face in a quarter of the light: std 15
    at_40 = 128 + (face - 128) * (40 / 60)  # ...judged as if it had the contrast CONTRAST_REF_STD
    assert native_sharpness(dim, 112) == pytest.approx(native_sharpness(at_40, 112), rel=1e-3)
    assert native_sharpness(dim, 112) > 5 * cv2.Laplacian(dim, cv2.CV_32F).var()
    assert native_sharpness(face, 112) == pytest.approx(cv2.Laplacian(face, cv2.CV_32F).var())  # well lit: as is
    assert native_sharpness(cv2.GaussianBlur(face, (0, 0), 4), 112) < BLURRY_SHARPNESS


class _OneFace(Detector):
    """One face of a given width (face_width px) in the middle of the frame."""

    def __init__(self, width: float) -> None:
        self.width = width

    def detect(self, image: np.ndarray) -> list[Detection]:
        cx, cy, w = 320.0, 240.0, self.width
        lm = (ARCFACE_TEMPLATE.array() - 56) * (w / 112) + [cx, cy]
        return [Detection(np.array([cx - w / 2, cy - w / 2, cx + w / 2, cy + w / 2]), 0.9, lm)]


def _textured() -> np.ndarray:
    return cv2.GaussianBlur(np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8), (0, 0), 0.6)


def test_a_small_face_votes_only_through_a_dsr(tmp_path: Path, default_embedder) -> None:
    dsr = SuperResolver(DSRNet(channels=8, blocks=1, up_channels=4).eval(), name="dsr")
    with Database(tmp_path / "g.db") as db:
        gallery = Gallery(db)
        gallery.activate_model(default_embedder)

        def report(width: float, **route) -> object:
            pipeline = FacePipeline(_OneFace(width), default_embedder, **route)
            return Recogniser(pipeline, gallery).process(_textured(), 0.0)

        for width, route, votes in [
            (14, {}, False),  # no route: too small for direct alignment
            (14, dict(sr_below_px=16), False),  # bicubic upscaling is no better than direct
            (14, dict(resolver=dsr, sr_below_px=16), True),  # through the DSR: votes
            (10, dict(resolver=dsr, sr_below_px=16), False),  # below the DSR's floor: never
        ]:
            frame = report(width, **route)
            face = frame.faces[0]
            assert (face.votes, face.hint, frame.embedded) == (votes, "" if votes else "too small", int(votes))
            assert face.route == ("small" if route else "direct")


# --- a tiny-face clip: the person enrolled from the full-size photo, then seen small or blurred -----------

PHOTO = ("video", "hamilton_refs", "lin-manuel-miranda.png")


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory):
    """A gallery with the person enrolled from the full-size photo; the photo and its face width."""
    pipeline = build_pipeline(min_face_size=12)  # the smallest the Settings allow, so tiny faces are found
    path = tmp_path_factory.mktemp("trust") / "g.db"
    photo = read_image(shared_path(*PHOTO))
    with Database(path) as db:
        enroller = Enroller(pipeline, Gallery(db))
        verdict = enroller.check_file(shared_path(*PHOTO))
        assert verdict.ok, verdict.reason
        enroller.enrol("Lin-Manuel Miranda", [verdict])
    width = face_width(pipeline.detect(photo)[0].landmarks)
    return path, pipeline, photo, width


def _frame(photo: np.ndarray, scale: float, blur: float = 0.0) -> np.ndarray:
    """The photo shrunk by `scale` and pasted into a grey 640x360 camera frame (then blurred)."""
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)[:300, :600]
    frame = np.full((360, 640, 3), 90, np.uint8)
    frame[30:30 + small.shape[0], 20:20 + small.shape[1]] = small
    return cv2.GaussianBlur(frame, (0, 0), blur) if blur else frame


def _run_clip(path: Path, pipeline: FacePipeline, frame: np.ndarray) -> tuple[list, list, int]:
    """Ten frames of `frame` at 15 fps into a fresh session: (reports, marks, unknown sightings)."""
    with Database(path) as db:
        attendance = Attendance(db)
        session = attendance.start_session("clip")
        settings = RecognitionSettings(record_unknown=True)
        recogniser = Recogniser(pipeline, Gallery(db), attendance, session.id, settings, "clip")
        reports = [recogniser.process(frame, i / 15) for i in range(10)]
        marks = attendance.marks(session.id)
        unknown = db.db.execute("SELECT COUNT(*) FROM unknown_sightings WHERE session_id = ?", [session.id]).fetchone()[0]
    return reports, marks, unknown


def test_a_tiny_or_blurry_face_never_reaches_a_mark(enrolled) -> None:
    path, pipeline, photo, width = enrolled
    reports, marks, unknown = _run_clip(path, pipeline, _frame(photo, 100 / width))  # control: 100 px face
    assert [m.person_name for m in marks] == ["Lin-Manuel Miranda"]
    assert all(f.votes and f.hint == "" for r in reports for f in r.faces)

    reports, marks, unknown = _run_clip(path, pipeline, _frame(photo, 11 / width))  # shrunk below the floor
    faces = [r.faces for r in reports]
    assert all(len(f) == 1 for f in faces)  # found and followed in every frame...
    assert all(f[0].quality.face_width < DIRECT_MIN_FACE_WIDTH for f in faces)
    assert all((f[0].votes, f[0].hint, f[0].read) == (False, "too small", False) for f in faces)
    assert len({f[0].track_id for f in faces}) == 1  # ...as one track
    assert (marks, unknown, sum(r.embedded for r in reports)) == ([], 0, 0)  # never embedded, voted or kept

    blur = next(s for s in (2, 3, 4, 5, 6, 8) if all(
        f.quality.detail < BLURRY_SHARPNESS for f in pipeline.process(_frame(photo, 100 / width, s)).faces))
    reports, marks, unknown = _run_clip(path, pipeline, _frame(photo, 100 / width, blur))
    assert all(r.faces for r in reports)
    assert all((f.votes, f.hint) == (False, "blurry") for r in reports for f in r.faces)
    assert (marks, unknown, sum(r.embedded for r in reports)) == ([], 0, 0)
