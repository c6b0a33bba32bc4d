from __future__ import annotations

from pathlib import Path

import pytest

from core.attendance import Attendance
from core.db import Database
from core.enrol import Enroller
from core.gallery import Gallery
from core.live import FrameSource, RecognitionSettings, Recogniser, SourceError
from core.pipeline import build_pipeline
from tests.conftest import shared_path


def test_missing_video_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        FrameSource(str(tmp_path / "nope.mp4")).open()


def test_unreadable_video_is_a_source_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(SourceError, match="Cannot open the video file"):
        FrameSource(str(bad)).open()


def test_video_frames_come_with_the_video_clock() -> None:
    with FrameSource(str(shared_path("video", "hamilton_clip.mp4"))) as source:
        times = [source.read()[1] for _ in range(3)]
        assert source.is_file and source.fps == pytest.approx(29.97, abs=0.1)
    assert times[0] < times[1] < times[2] and times[2] < 0.2


@pytest.fixture(scope="module")
def hamilton_db(tmp_path_factory):
    """The two reference people enrolled with the default pipeline."""
    path = tmp_path_factory.mktemp("hamilton") / "g.db"
    pipeline = build_pipeline()
    with Database(path) as db:
        enroller = Enroller(pipeline, Gallery(db))
        for name in ("lin-manuel-miranda", "alex-lacamoire"):
            verdict = enroller.check_file(shared_path("video", "hamilton_refs", f"{name}.png"))
            assert verdict.ok, verdict.reason
            enroller.enrol(name, [verdict])
    return path, pipeline


def test_the_clip_marks_exactly_the_two_enrolled_people(hamilton_db) -> None:
    path, pipeline = hamilton_db
    with Database(path) as db:
        gallery, attendance = Gallery(db), Attendance(db)
        session = attendance.start_session("hamilton")
        recogniser = Recogniser(pipeline, gallery, attendance, session.id, RecognitionSettings(), "hamilton_clip")
        marked_at = {}
        with FrameSource(str(shared_path("video", "hamilton_clip.mp4"))) as source:
            index = 0
            while True:
                frame, t = source.read()
                if frame is None:
                    break
                if index % 2 == 0:  # every other frame keeps the test quick; 15 fps is what the app sees
                    for mark in recogniser.process(frame, t).new_marks:
                        marked_at[mark.person_name] = t
                index += 1
        marks = attendance.marks(session.id)
        threshold = gallery.active_model().threshold
        evidence = [attendance.evidence(m.id) for m in marks]
    assert sorted(m.person_name for m in marks) == ["alex-lacamoire", "lin-manuel-miranda"]
    assert all(m.score >= threshold and m.source == "hamilton_clip" for m in marks)
    assert all(e and e[:2] == b"\xff\xd8" for e in evidence)  # a JPEG of the face as evidence
    assert sorted(marked_at) == ["alex-lacamoire", "lin-manuel-miranda"]
