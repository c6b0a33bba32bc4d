"""The Live tab over real videos: marks exactly the enrolled people, reports failing sources, and the
worker publishes only the newest frame."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.attendance.sources import FrameSource, SourceError
from desktop.pages.live_page import LivePage
from tests.conftest import shared_path
from tests.desktop.conftest import enrol_photos, errors


@pytest.fixture
def page(ctx, qtbot):
    page = LivePage(ctx)
    qtbot.addWidget(page)
    yield page
    page.shutdown()


def test_hamilton_clip_marks_exactly_the_two_enrolled_people(make_ctx, qtbot) -> None:
    clip = shared_path("video", "hamilton_clip.mp4")
    refs = shared_path("video", "hamilton_refs")
    ctx = make_ctx(source=str(clip), file_pace="every_frame")  # every frame: the same result on any machine
    assert ctx.service.sessions_per_false_mark == 100  # the default policy marks both with dlib (tests/core/test_live.py)
    enrol_photos(ctx, "Lin-Manuel Miranda", refs / "lin-manuel-miranda.png")
    enrol_photos(ctx, "Alex Lacamoire", refs / "alex-lacamoire.png")
    page = LivePage(ctx)
    qtbot.addWidget(page)
    page.start_session("Rehearsal")
    page.start()
    qtbot.waitUntil(lambda: page.running, timeout=5000)
    qtbot.waitUntil(lambda: not page.running, timeout=120_000)
    page.shutdown()

    session = ctx.attendance.find_session("Rehearsal")
    marked = sorted(m.person_name for m in ctx.attendance.marks(session.id))
    assert marked == ["Alex Lacamoire", "Lin-Manuel Miranda"]
    marks = ctx.attendance.marks(session.id)
    assert all(m.score is not None and m.score >= 0.9 for m in marks)  # the raw cosine is kept...
    assert all(m.confidence is not None and 50 <= m.confidence <= 100 for m in marks)  # ...beside the confidence
    assert page.marks_model.rowCount() == 2  # the side panel shows them, with their evidence crops
    shown = [page.marks_model.index(r).data() for r in range(2)]
    assert all(f"confidence {m.confidence}" in "\n".join(shown) for m in marks)
    assert not any(f"{m.score:.2f}" in "\n".join(shown) for m in marks)
    notices = sorted(n.text for n in ctx.notifier.history if n.title == "Marked")
    assert notices == sorted(f"{m.person_name} (confidence {m.confidence})" for m in marks)
    assert all(ctx.attendance.evidence(m.id) for m in ctx.attendance.marks(session.id))
    assert page.worker.frames_processed == 275 and page.frames_shown > 0
    assert page.source_state == "ended" and "ended after 275 frames" in page.source_label.text()
    assert errors(ctx) == []


def test_a_missing_video_file_is_reported_and_nothing_crashes(page, ctx, qtbot, tmp_path: Path) -> None:
    page.source_edit.setText(str(tmp_path / "missing.mp4"))
    page.start()
    qtbot.waitUntil(lambda: bool(errors(ctx)), timeout=10_000)
    assert "does not exist" in errors(ctx)[0] and "missing.mp4" in errors(ctx)[0]
    qtbot.waitUntil(lambda: not page.running, timeout=5000)
    assert page.start_button.isEnabled() and "does not exist" in page.source_label.text()


def test_a_bad_stream_url_is_reported_and_nothing_crashes(page, ctx, qtbot) -> None:
    page.source_edit.setText("http://127.0.0.1:9/no-such-stream")  # port 9 (discard): refused at once
    page.start()
    qtbot.waitUntil(lambda: bool(errors(ctx)), timeout=30_000)
    assert "Cannot open the stream http://127.0.0.1:9/no-such-stream" in errors(ctx)[0]
    qtbot.waitUntil(lambda: not page.running, timeout=5000)


def test_a_corrupt_video_file_is_reported(page, ctx, qtbot, tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 500)
    page.source_edit.setText(str(bad))
    page.start()
    qtbot.waitUntil(lambda: bool(errors(ctx)), timeout=10_000)
    assert "broken.mp4" in errors(ctx)[0]


def test_recognising_without_a_session_marks_nobody(make_ctx, qtbot) -> None:
    refs = shared_path("video", "hamilton_refs")
    ctx = make_ctx(source=str(shared_path("video", "hamilton_clip.mp4")), file_pace="every_frame")
    enrol_photos(ctx, "Lin-Manuel Miranda", refs / "lin-manuel-miranda.png")
    page = LivePage(ctx)
    qtbot.addWidget(page)
    assert page.current_session_id() is None
    page.start()
    qtbot.waitUntil(lambda: page.frames_shown >= 3, timeout=30_000)
    names = {f.name for f in page.last_frame.faces}
    page.stop()
    qtbot.waitUntil(lambda: not page.running, timeout=10_000)
    page.shutdown()
    assert "Lin-Manuel Miranda" in names
    assert ctx.attendance.marks() == []


class VanishingCamera(FrameSource):
    """A camera that delivers a few frames of the clip, is unplugged, and comes back later."""

    def __init__(self, clip: Path) -> None:
        super().__init__("0")
        self.clip = FrameSource(str(clip)).open()
        self.opens = 0
        self.left = 0

    def open(self) -> VanishingCamera:
        self.opens += 1
        if self.opens in (2, 3):
            raise SourceError("Cannot open the camera camera 0. Is it connected?")
        self.left = 5
        return self

    def read(self):
        if self.left == 0:
            return None, 0.0
        self.left -= 1
        return self.clip.read()

    def close(self) -> None:
        pass


def test_a_camera_that_disappears_is_reported_once_and_reconnected(page, ctx, qtbot) -> None:
    from core.attendance.grabber import Backoff
    from core.attendance.recogniser import RecognitionSettings
    from desktop.live_worker import RunRequest

    camera = VanishingCamera(shared_path("video", "hamilton_clip.mp4"))
    page.worker.start(RunRequest(ctx.pipeline, ctx.service.connect, camera, "realtime", None, RecognitionSettings(),
                                 backoff=Backoff(0.05, 0.2)))
    qtbot.waitUntil(lambda: camera.opens >= 4, timeout=20_000)
    qtbot.waitUntil(lambda: any(n.title == "Source" and "is back" in n.text for n in ctx.notifier.history), timeout=10_000)
    page.worker.stop()
    history = ctx.notifier.history
    back = next(i for i, n in enumerate(history) if "is back" in n.text)
    warnings = [n for n in history[:back] if n.level == "warning"]
    # three failed reads/opens in the first outage, one warning for it
    assert len(warnings) == 1 and "stopped delivering frames; retrying in" in warnings[0].text
    assert errors(ctx) == []
