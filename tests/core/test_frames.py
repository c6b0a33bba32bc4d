"""The newest-frame mailbox and the grabber thread: stale frames are dropped, never queued; files
end cleanly; live sources that stop are reopened with back-off."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import ConfigError
from core.attendance.grabber import Backoff, Frame, FrameGrabber, LatestFrame, SourceEvent
from core.attendance.sources import FrameSource, SourceError
from tests.conftest import shared_path


def _frame(i: int) -> Frame:
    return Frame(np.full((4, 4, 3), i, np.uint8), i / 30, i, time.monotonic())


def test_the_slot_keeps_only_the_newest_frame_and_counts_the_dropped() -> None:
    slot = LatestFrame()
    for i in range(5):
        slot.put(_frame(i))
    taken = slot.take(timeout=0.1)
    assert taken.index == 4 and slot.dropped == 4
    assert slot.take(timeout=0.01) is None  # nothing queued behind it


def test_a_waiting_put_hands_over_every_frame() -> None:
    slot = LatestFrame()
    got = []

    def consume() -> None:
        while (frame := slot.take(timeout=2)) is not None:
            got.append(frame.index)
            time.sleep(0.002)

    consumer = threading.Thread(target=consume)
    consumer.start()
    for i in range(20):
        assert slot.put(_frame(i), wait=True)
    slot.close()
    consumer.join(5)
    assert got == list(range(20)) and slot.dropped == 0


def test_closing_wakes_a_waiting_taker() -> None:
    slot = LatestFrame()
    threading.Timer(0.05, slot.close).start()
    started = time.monotonic()
    assert slot.take(timeout=5) is None
    assert time.monotonic() - started < 2 and slot.closed
    assert not slot.put(_frame(0))


def test_backoff_doubles_up_to_the_longest_delay() -> None:
    b = Backoff(first=1.0, longest=8.0)
    assert [b.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_unknown_pace_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown pace"):
        FrameGrabber(FrameSource("x.mp4"), LatestFrame(), pace="fast")


def _run(grabber: FrameGrabber, slot: LatestFrame, delay: float = 0.0) -> list[Frame]:
    frames = []
    grabber.start()
    while (frame := slot.take(timeout=10)) is not None:
        frames.append(frame)
        time.sleep(delay)
    grabber.stop()
    return frames


def test_every_frame_pace_reads_a_whole_file_then_reports_its_end() -> None:
    events: list[SourceEvent] = []
    slot = LatestFrame()
    grabber = FrameGrabber(FrameSource(str(shared_path("video", "hamilton_clip.mp4"))), slot,
                           pace="every_frame", on_event=events.append)
    frames = _run(grabber, slot, delay=0.001)
    assert [f.index for f in frames] == list(range(275)) and slot.dropped == 0
    assert [e.kind for e in events] == ["opened", "ended"] and "275 frames" in events[-1].message


def test_realtime_pace_drops_what_a_slow_reader_cannot_take() -> None:
    slot = LatestFrame()
    grabber = FrameGrabber(FrameSource(str(shared_path("video", "hamilton_clip.mp4"))), slot, pace="realtime")
    started = time.monotonic()
    frames = _run(grabber, slot, delay=0.1)  # a reader at 10 fps against a 30 fps video
    elapsed = time.monotonic() - started
    assert elapsed >= 8.0  # played at its recorded speed (9.2 s), not as fast as it decodes
    assert len(frames) < 150 and slot.dropped > 100
    assert all(b.index > a.index for a, b in zip(frames, frames[1:]))  # newest first, never older


def test_a_missing_file_fails_with_its_name(tmp_path: Path) -> None:
    events: list[SourceEvent] = []
    slot = LatestFrame()
    grabber = FrameGrabber(FrameSource(str(tmp_path / "gone.mp4")), slot, on_event=events.append)
    assert _run(grabber, slot) == []
    assert [e.kind for e in events] == ["failed"] and "gone.mp4 does not exist" in events[0].message


class FlakyCamera(FrameSource):
    """A camera that delivers 3 frames, disappears, refuses to open once, then comes back."""

    def __init__(self) -> None:
        super().__init__("0")
        self.opens = 0
        self.left = 0

    def open(self) -> FlakyCamera:
        self.opens += 1
        if self.opens == 2:
            raise SourceError("Cannot open the camera camera 0.")
        self.left = 3
        return self

    def read(self):
        if self.left == 0:
            return None, 0.0
        self.left -= 1
        return np.zeros((8, 8, 3), np.uint8), time.monotonic()

    def close(self) -> None:
        pass


def test_a_lost_camera_is_reopened_with_back_off() -> None:
    events: list[SourceEvent] = []
    slot = LatestFrame()
    camera = FlakyCamera()
    grabber = FrameGrabber(camera, slot, pace="every_frame", on_event=events.append, backoff=Backoff(0.01, 0.05))
    grabber.start()
    frames = []
    while len(frames) < 6:
        frames.append(slot.take(timeout=5))
    grabber.stop()
    kinds = [e.kind for e in events]
    assert kinds[:4] == ["opened", "lost", "lost", "reconnected"]
    assert [e.retry_in_s for e in events if e.kind == "lost"][:2] == [0.01, 0.02]  # waits longer each time
    assert camera.opens == 3 and all(f is not None for f in frames)
    assert not grabber.running


def test_a_video_name_that_is_not_utf8_gets_a_label_the_database_stores() -> None:
    """Marks and unknown sightings store the source's label: a lone surrogate would make SQLite fail."""
    label = FrameSource(os.fsdecode(b"/videos/caf\xe9.mp4")).label
    assert label == "/videos/caf\\xe9.mp4"
    label.encode("utf-8")  # no lone surrogate left


class _FakeCapture:
    """Stands in for cv2.VideoCapture: records how it was opened and what it was asked for."""

    made: list[_FakeCapture] = []
    working_backends = {None, "dshow"}

    def __init__(self, index, backend=None) -> None:  # noqa: ANN001
        self.backend = {None: None, cv2.CAP_DSHOW: "dshow"}.get(backend, backend)
        self.index, self.props, self.released = index, {}, False
        _FakeCapture.made.append(self)

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.backend in self.working_backends

    def set(self, prop, value) -> bool:  # noqa: ANN001
        self.props[prop] = value
        return True

    def release(self) -> None:
        self.released = True


def test_a_camera_is_asked_for_mjpg_at_a_set_size_through_directshow_on_windows(monkeypatch) -> None:
    from core.attendance import sources

    monkeypatch.setattr(sources.cv2, "VideoCapture", _FakeCapture)
    _FakeCapture.made = []
    cap = sources.open_camera(1, platform="win32")
    assert (cap.index, cap.backend) == (1, "dshow")
    assert cap.props == {cv2.CAP_PROP_FOURCC: cv2.VideoWriter_fourcc(*"MJPG"),
                         cv2.CAP_PROP_FRAME_WIDTH: 640, cv2.CAP_PROP_FRAME_HEIGHT: 480}
    assert sources.open_camera(0, platform="linux").backend is None  # OpenCV's own choice elsewhere

    _FakeCapture.made, _FakeCapture.working_backends = [], {None}  # no DirectShow: OpenCV's choice instead
    try:
        cap = sources.open_camera(2, size=(1280, 720), platform="win32")
    finally:
        _FakeCapture.working_backends = {None, "dshow"}
    first, second = _FakeCapture.made
    assert first.backend == "dshow" and first.released and second is cap and cap.backend is None
    assert cap.props[cv2.CAP_PROP_FRAME_WIDTH] == 1280 and cap.props[cv2.CAP_PROP_FRAME_HEIGHT] == 720
