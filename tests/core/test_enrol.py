from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.storage.db import Database
from core.vision.detect.base import Detection, Detector
from core.vision.detect.yunet import YuNetDetector
from core.gallery.enrol import Enroller
from core.gallery.store import Gallery, GalleryError
from core.vision.imageio import read_image
from core.vision.pipeline import FacePipeline
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def pipeline(yunet_path, default_embedder) -> FacePipeline:
    return FacePipeline(YuNetDetector(yunet_path), default_embedder)


@pytest.fixture
def enroller(pipeline) -> Enroller:
    db = Database(":memory:")
    yield Enroller(pipeline, Gallery(db))
    db.close()


def photo(*parts: str) -> np.ndarray:
    return read_image(shared_path(*parts))


def test_a_good_photo_passes(enroller: Enroller) -> None:
    v = enroller.check(photo("faces", "misc", "obama.jpg"), "obama.jpg")
    assert v.ok and v.reason == "" and v.embedding.shape == (128,) and v.sample.face.shape == (256, 256, 3)


def test_no_face(enroller: Enroller) -> None:
    v = enroller.check(np.full((300, 300, 3), 200, np.uint8), "wall.png")
    assert not v.ok and v.reason == "no face found"


def test_two_faces_need_a_choice(enroller: Enroller) -> None:
    img = photo("faces", "misc", "two_people.jpg")
    v = enroller.check(img, "two.jpg")
    assert not v.ok and v.reason == "2 faces found: choose which one" and len(v.detections) == 2
    left = enroller.check(img, "two.jpg", face_index=0)
    right = enroller.check(img, "two.jpg", face_index=1)
    assert left.ok and right.ok and float(left.embedding @ right.embedding) < 0.95
    assert "no face number 3" in enroller.check(img, "two.jpg", face_index=2).reason


def test_small_face_is_rejected_with_its_size(enroller: Enroller) -> None:
    img = photo("faces", "misc", "obama.jpg")
    small = cv2.resize(img, None, fx=0.1, fy=0.1, interpolation=cv2.INTER_AREA)
    v = enroller.check(small, "small.jpg")
    assert not v.ok and v.reason.startswith("face too small") and "needs 48" in v.reason


def test_blurry_face_is_rejected(enroller: Enroller) -> None:
    img = cv2.GaussianBlur(photo("faces", "misc", "obama.jpg"), (0, 0), 6)
    v = enroller.check(img, "blurry.jpg")
    assert not v.ok and v.reason.startswith("too blurry")


class _TurnedFace(Detector):
    """A real face's box, with the nose moved far to one side (a strongly turned head)."""

    def __init__(self, inner: Detector) -> None:
        self.inner = inner

    def detect(self, image: np.ndarray) -> list[Detection]:
        out = []
        for d in self.inner.detect(image):
            lm = d.landmarks.copy()
            lm[2, 0] = lm[1, 0] + 0.1 * (lm[1, 0] - lm[0, 0])
            out.append(Detection(d.box, d.score, lm))
        return out


def test_turned_face_is_rejected(pipeline: FacePipeline) -> None:
    turned = FacePipeline(_TurnedFace(pipeline.detector), pipeline.embedder)
    with Database(":memory:") as db:
        v = Enroller(turned, Gallery(db)).check(photo("faces", "misc", "obama.jpg"), "turned.jpg")
    assert not v.ok and "turned too far" in v.reason


def test_unreadable_file_is_a_verdict_naming_the_file(enroller: Enroller, tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 broken")
    v = enroller.check_file(bad)
    assert not v.ok and str(bad) in v.reason


def test_enrol_saves_only_good_samples_and_warns_about_duplicates(enroller: Enroller) -> None:
    first = [enroller.check(photo("faces", "knn", "train", "obama", n), n) for n in ("obama.jpg", "obama2.jpg")]
    blank = enroller.check(np.zeros((200, 200, 3), np.uint8), "blank")
    person = enroller.enrol("Barack Obama", [*first, blank], groups=["US"])
    assert person.n_samples == 2
    again = [enroller.check(photo("faces", "misc", "obama3.jpg"), "obama3.jpg")]
    warnings = enroller.possible_duplicates(again)
    assert [w.person.id for w in warnings] == [person.id] and warnings[0].score >= enroller.model.threshold
    assert enroller.possible_duplicates(again, exclude_person=person.id) == []
    biden = [enroller.check(photo("faces", "misc", "biden.jpg"), "biden.jpg")]
    assert enroller.possible_duplicates(biden) == []


def test_nothing_usable_saves_nothing(enroller: Enroller) -> None:
    blank = enroller.check(np.zeros((200, 200, 3), np.uint8), "blank")
    with pytest.raises(GalleryError, match="nothing was saved"):
        enroller.enrol("Nobody", [blank])
    assert enroller.gallery.count_people() == 0


def test_enrolment_must_use_the_active_model(pipeline: FacePipeline) -> None:
    from tests.core.gallery_fixtures import tiny_embedder

    with Database(":memory:") as db:
        gallery = Gallery(db)
        gallery.activate_model(tiny_embedder(3))
        with pytest.raises(GalleryError, match="switch the active model"):
            Enroller(pipeline, gallery)


def test_a_much_larger_face_is_taken_without_asking(enroller: Enroller) -> None:
    img = photo("faces", "misc", "obama.jpg")
    h, w = img.shape[:2]
    small = cv2.resize(img, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    canvas = np.full((h, w + w // 4 + 20, 3), 255, np.uint8)
    canvas[:, :w] = img
    canvas[: h // 4, w + 20 :] = small
    v = enroller.check(canvas, "obama with a small copy")
    assert len(v.detections) == 2 and v.ok
    assert v.sample.face_size > 200
