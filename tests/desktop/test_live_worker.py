"""The recognition worker: one long-lived thread, newest frame only, results never queued."""

from __future__ import annotations

import time

from core.attendance.recogniser import RecognitionSettings
from desktop.live_worker import KNOWN, RecognitionWorker, RunRequest
from tests.conftest import shared_path


def _request(ctx, pace: str = "every_frame") -> RunRequest:
    return RunRequest(ctx.pipeline, ctx.service.connect, str(shared_path("video", "hamilton_clip.mp4")), pace,
                      None, RecognitionSettings())


def test_a_busy_gui_gets_one_poke_and_the_newest_result(ctx, qtbot, qapp) -> None:
    worker = RecognitionWorker()
    pokes = []
    worker.frame_ready.connect(lambda: pokes.append(time.monotonic()))
    worker.start(_request(ctx))
    deadline = time.monotonic() + 60
    while worker.frames_processed < 8 and time.monotonic() < deadline:
        time.sleep(0.05)  # the GUI thread is "busy": no events are processed meanwhile
    qapp.processEvents()
    worker.shutdown()
    qapp.processEvents()
    assert len(pokes) == 1  # not one queued event per processed frame
    frame = worker.take_frame()
    assert frame is not None and frame.index >= 7  # the newest result, not the first
    assert worker.take_frame() is None  # taken once


def test_the_thread_lives_across_runs_and_stops_on_shutdown(ctx, qtbot) -> None:
    worker = RecognitionWorker()
    thread = worker._thread
    for _ in range(2):
        worker.start(_request(ctx, pace="realtime"))
        qtbot.waitUntil(lambda: worker.frames_processed > 0 and worker.running, timeout=30_000)
        worker.stop()
        qtbot.waitUntil(lambda: not worker.running, timeout=10_000)
        assert worker._thread is thread and thread.is_alive()  # the same thread, idle between runs
        worker.frames_processed = 0
    worker.shutdown()
    assert not thread.is_alive()


def test_frames_carry_overlays_and_timings(ctx, qtbot) -> None:
    worker = RecognitionWorker()
    frames = []
    worker.frame_ready.connect(lambda: frames.append(worker.take_frame()))
    worker.start(_request(ctx))
    qtbot.waitUntil(lambda: len(frames) >= 3, timeout=30_000)
    worker.shutdown()
    frame = frames[-1]
    assert frame.image.width() == 640 and frame.image.height() == 360
    assert frame.faces and all(f.name is None for f in frame.faces)  # nobody is enrolled
    assert all(f.state != KNOWN and f.confidence is None for f in frame.faces)  # nothing to compare with
    assert frame.processed_at >= frame.grabbed_at and frame.process_ms > 0
    assert {"detect", "embed"} <= set(frame.timings_ms)
