"""The live view says when recognition falls behind the camera, once, and when it has caught up."""

from __future__ import annotations

from desktop.live_lag import LagMonitor
from desktop.pages.live_page import LivePage


def feed(monitor: LagMonitor, start_index: int, step: int, frames: int, t0: float, dt: float) -> list[str]:
    changes = []
    for k in range(frames):
        change = monitor.add(start_index + k * step, t0 + k * dt)
        if change:
            changes.append(change)
    return changes


def test_skipping_most_frames_warns_once_and_keeping_up_clears_it() -> None:
    monitor = LagMonitor()
    assert feed(monitor, 0, 1, 90, 0.0, 1 / 30) == []  # every frame processed: nothing to say
    assert monitor.skipped == 0.0
    changes = feed(monitor, 90, 3, 60, 3.0, 0.1)  # one frame in three for 6 s
    assert changes == ["behind"] and monitor.behind and 0.6 < monitor.skipped < 0.7
    assert feed(monitor, 270, 3, 30, 9.0, 0.1) == []  # still behind: said once
    assert feed(monitor, 360, 1, 200, 12.0, 1 / 30) == ["caught up"] and not monitor.behind


def test_the_warm_up_and_a_restarted_source_are_not_lag() -> None:
    monitor = LagMonitor()
    assert feed(monitor, 0, 10, 10, 0.0, 0.15) == []  # 1.5 s of a slow start: too early to judge
    monitor.add(5, 1.6)  # the source restarted (its index went back): measured afresh
    assert list(monitor.samples) == [(1.6, 5)]


def test_the_page_warns_through_the_notifier(ctx, qtbot) -> None:
    page = LivePage(ctx)
    qtbot.addWidget(page)
    try:
        for k in range(80):  # one frame in four, 10 per second
            page._check_lag(4 * k, 100.0 + k * 0.1)
        for k in range(200):
            page._check_lag(400 + k, 108.0 + k / 30)
        said = [(n.level, n.text) for n in ctx.notifier.history if n.title == "Live"]
        assert [level for level, _ in said] == ["warning", "info"]
        # when it first could judge: 21 frames seen of the 81 of its first 2 s
        assert "falling behind: 74% of frames skipped" in said[0][1] and "caught up" in said[1][1]
    finally:
        page.shutdown()


def test_a_throttled_worker_makes_the_page_warn(make_ctx, qtbot, monkeypatch) -> None:
    """End to end: a video at camera pace, recognised by a worker slowed to ~6 frames a second, warns."""
    import time

    from core.attendance.recogniser import Recogniser
    from tests.conftest import shared_path

    process = Recogniser.process

    def throttled(self, frame, t):  # noqa: ANN001, ANN202
        time.sleep(0.15)
        return process(self, frame, t)

    monkeypatch.setattr(Recogniser, "process", throttled)
    ctx = make_ctx(source=str(shared_path("video", "hamilton_clip.mp4")), file_pace="realtime")
    page = LivePage(ctx)
    qtbot.addWidget(page)
    try:
        page.start()
        def warned() -> list[str]:
            return [n.text for n in ctx.notifier.history if n.level == "warning" and "falling behind" in n.text]

        qtbot.waitUntil(lambda: bool(warned()), timeout=20_000)
        warning = warned()[0]
        skipped = int(warning.split("falling behind: ")[1].split("%")[0])
        assert skipped >= 50  # at most ~6 of every 30 frames a second get processed
    finally:
        page.shutdown()
