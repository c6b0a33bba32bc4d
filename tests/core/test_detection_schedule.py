"""Detection on a schedule: full detection every Nth frame, the tracked faces relocated in between
(MTCNN's ONet on the previous boxes), tracks and names kept across, and a full pass whenever a face is lost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.attendance.detection_thread import BackgroundDetection
from core.attendance.recogniser import RecognitionSettings, Recogniser
from core.attendance.sources import FrameSource
from core.attendance.tracking import iou_matrix
from core.errors import ConfigError
from core.gallery.store import Gallery
from core.storage.db import Database
from core.vision.detect import Detection, Detector
from core.vision.detect.mtcnn import MTCNNDetector
from core.vision.imageio import read_image
from core.vision.pipeline import FacePipeline
from tests.conftest import shared_path


class ScriptedDetector(Detector):
    """Faces at fixed boxes; `relocate` finds each box again unless the face is listed as gone."""

    def __init__(self, boxes: list[list[float]], relocates: bool = True) -> None:
        self.boxes = [np.array(b, np.float32) for b in boxes]
        self.relocates = relocates
        self.gone: set[int] = set()  # indexes of boxes relocate no longer finds
        self.calls: list[str] = []

    def _detection(self, box: np.ndarray) -> Detection:
        x1, y1, x2, y2 = box
        w = x2 - x1
        marks = np.array([[x1 + 0.3 * w, y1 + 0.4 * w], [x1 + 0.7 * w, y1 + 0.4 * w], [x1 + 0.5 * w, y1 + 0.6 * w],
                          [x1 + 0.35 * w, y1 + 0.8 * w], [x1 + 0.65 * w, y1 + 0.8 * w]], np.float32)
        return Detection(box.copy(), 0.99, marks)

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.calls.append("detect")
        return [self._detection(b) for b in self.boxes]

    def relocate(self, image: np.ndarray, boxes: np.ndarray):
        if not self.relocates:
            return None
        self.calls.append("relocate")
        found = []
        for box in boxes:
            i = int(np.argmax(iou_matrix(box[None], np.stack(self.boxes))[0]))
            found.append(None if i in self.gone else self._detection(self.boxes[i]))
        return found


@pytest.fixture
def empty_gallery(tmp_path: Path):
    with Database(tmp_path / "g.db") as db:
        yield Gallery(db)


def run(detector: ScriptedDetector, embedder, gallery, frames: int, every: int = 3) -> list:
    recogniser = Recogniser(FacePipeline(detector, embedder), gallery, settings=RecognitionSettings(detect_every=every))
    image = np.full((240, 320, 3), 128, np.uint8)
    return [recogniser.process(image, i / 30) for i in range(frames)]


def test_full_detection_every_nth_frame_and_relocation_between(default_embedder, empty_gallery) -> None:
    detector = ScriptedDetector([[40, 40, 120, 120], [180, 50, 260, 130]])
    reports = run(detector, default_embedder, empty_gallery, 7)
    assert detector.calls == ["detect", "relocate", "relocate"] * 2 + ["detect"]
    assert [r.full_detection for r in reports] == [True, False, False, True, False, False, True]
    ids = [[f.track_id for f in r.faces] for r in reports]
    assert all(len(i) == 2 for i in ids) and len({tuple(sorted(i)) for i in ids}) == 1  # the same two tracks


def test_a_face_lost_by_relocation_brings_the_full_detection_forward(default_embedder, empty_gallery) -> None:
    detector = ScriptedDetector([[40, 40, 120, 120], [180, 50, 260, 130]])
    detector.gone = {1}
    run(detector, default_embedder, empty_gallery, 3)
    assert detector.calls == ["detect", "relocate", "detect", "relocate", "detect"]


def test_no_face_to_follow_or_no_relocation_means_detection_on_every_frame(default_embedder, empty_gallery) -> None:
    nobody = ScriptedDetector([])
    # an empty room is searched on every frame (its second looks included): arrivals are not delayed
    assert all(r.full_detection for r in run(nobody, default_embedder, empty_gallery, 4))
    assert "relocate" not in nobody.calls and len(nobody.calls) >= 4
    cannot = ScriptedDetector([[40, 40, 120, 120]], relocates=False)
    assert all(r.full_detection for r in run(cannot, default_embedder, empty_gallery, 4))
    assert cannot.calls == ["detect"] * 4
    every = ScriptedDetector([[40, 40, 120, 120]])
    run(every, default_embedder, empty_gallery, 3, every=1)
    assert every.calls == ["detect"] * 3
    with pytest.raises(ConfigError, match="detect_every must be at least 1"):
        RecognitionSettings(detect_every=0)


def test_mtcnn_relocates_a_moved_face_and_lets_a_vanished_one_go() -> None:
    detector = MTCNNDetector()
    image = read_image(sorted(shared_path("faces", "johns").rglob("*.jpg"))[0])
    found = detector.detect(image)
    assert found
    face = found[0]
    shift = np.array([0.06, 0.04, 0.06, 0.04], np.float32) * face.width  # where it was a frame earlier
    again = detector.relocate(image, np.stack([face.box - shift]))[0]
    assert again is not None
    assert iou_matrix(again.box[None], face.box[None])[0, 0] > 0.7
    assert np.abs(again.landmarks - face.landmarks).max() < 0.08 * face.width
    blank = np.full_like(image, 127)
    outside = np.array([[-500, -500, -400, -400]], np.float32)
    assert detector.relocate(blank, np.stack([face.box]))[0] is None and detector.relocate(image, outside)[0] is None
    assert detector.relocate(image, np.zeros((0, 4))) == []


def test_tracks_keep_their_names_between_full_detections(hamilton_db) -> None:
    path, pipeline = hamilton_db
    with Database(path) as db:
        recogniser = Recogniser(pipeline, Gallery(db), None, None, RecognitionSettings(detect_every=3))
        reports = []
        with FrameSource(str(shared_path("video", "hamilton_clip.mp4"))) as source:
            for _ in range(60):
                frame, t = source.read()
                reports.append(recogniser.process(frame, t))
    relocated = [i for i, r in enumerate(reports) if not r.full_detection and r.faces]
    assert len(relocated) >= 15  # most frames between full passes only relocated
    kept = 0
    for i in relocated:
        before = {f.track_id: f.match.name for f in reports[i - 1].faces}
        for face in reports[i].faces:
            assert face.track_id in before  # relocation finds no new face: every track was there a frame ago
            if before[face.track_id]:
                kept += face.match.name == before[face.track_id]
    assert kept >= 10  # named faces keep their names through relocated frames
    named = {f.match.name for r in reports for f in r.faces if f.match.name}
    assert named == {"alex-lacamoire", "lin-manuel-miranda"}


def test_background_detection_hands_over_one_frame_at_a_time_and_raises_in_the_caller() -> None:
    seen = []

    def detect(image):  # noqa: ANN001, ANN202
        seen.append(int(image[0, 0, 0]))
        if image[0, 0, 0] == 9:
            raise ValueError("broken detector")
        return [Detection(np.array([0, 0, 10, 10], np.float32), 0.9, np.zeros((5, 2), np.float32))]

    background = BackgroundDetection(detect)
    try:
        assert background.idle and background.take() is None
        assert background.submit(np.full((4, 4, 3), 1, np.uint8))
        assert not background.submit(np.full((4, 4, 3), 2, np.uint8))  # busy or not yet taken: refused
        assert background.wait(5.0)
        assert not background.idle  # a result waits to be taken
        assert len(background.take()) == 1 and background.take() is None and background.idle
        assert background.submit(np.full((4, 4, 3), 9, np.uint8)) and background.wait(5.0)
        with pytest.raises(ValueError, match="broken detector"):
            background.take()
        assert seen == [1, 9]
    finally:
        background.close()
    assert background.closed and not background.submit(np.zeros((4, 4, 3), np.uint8))


def test_with_detection_on_its_thread_faces_join_when_found_and_are_relocated_after(default_embedder,
                                                                                     empty_gallery) -> None:
    detector = ScriptedDetector([[40, 40, 120, 120], [180, 50, 260, 130]])
    recogniser = Recogniser(FacePipeline(detector, default_embedder), empty_gallery,
                            settings=RecognitionSettings(background_detection=True))
    image = np.full((240, 320, 3), 128, np.uint8)
    try:
        first = recogniser.process(image, 0.0)
        assert first.faces == [] and not first.full_detection  # handed to the detector, nothing known yet
        assert recogniser._background.wait(5.0)
        second = recogniser.process(image, 1 / 30)  # the detector's faces arrive, relocated in this frame
        assert second.full_detection and len(second.faces) == 2
        assert recogniser._background.wait(5.0)
        third = recogniser.process(image, 2 / 30)
        assert [f.track_id for f in third.faces] == [f.track_id for f in second.faces]  # the same tracks
        assert detector.calls.count("detect") >= 2 and "relocate" in detector.calls
    finally:
        recogniser.close()
    assert recogniser._background.closed
