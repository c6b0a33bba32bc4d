"""AppContext over the application service: the service's change reports become the context's signals
in one bridge, on the GUI thread, from whichever thread the operation ran on."""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread

from tests.desktop.conftest import enrol_photos
from tests.conftest import shared_path


def _record(ctx) -> list[tuple[str, bool]]:
    """(signal, emitted on the GUI thread) for each change signal of the context."""
    seen: list[tuple[str, bool]] = []
    gui = QThread.currentThread()
    for name in ("gallery_changed", "attendance_changed", "engine_changed", "config_changed"):
        getattr(ctx, name).connect(lambda name=name: seen.append((name, QThread.currentThread() is gui)))
    return seen


def test_an_operation_on_the_gui_thread_signals_before_it_returns(ctx) -> None:
    seen = _record(ctx)
    session = ctx.service.start_session("Morning")
    assert seen == [("attendance_changed", True)]
    ctx.service.update_person(enrol_photos(ctx, "Alex", shared_path("video", "hamilton_refs", "alex-lacamoire.png")),
                              name="Alex L.")
    # a rename rewrites the name in the marks too: both signals, still on this thread, before returning
    assert seen[-2:] == [("gallery_changed", True), ("attendance_changed", True)]
    assert ctx.attendance.session(session.id).open


def test_a_worker_threads_operation_is_signalled_on_the_gui_thread(ctx, qtbot) -> None:
    seen = _record(ctx)

    def work() -> None:
        with ctx.service.connect() as worker:  # its own connection, the context's subscribers
            worker.start_session("From a worker")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == []  # queued: nothing ran on the worker thread
    qtbot.waitUntil(lambda: seen == [("attendance_changed", True)], timeout=5000)
    assert [s.name for s in ctx.attendance.sessions()] == ["From a worker"]


def test_settings_reach_the_service_and_signal_once(ctx, qtbot) -> None:
    seen = _record(ctx)
    ctx.update_config(operator="front desk")  # the app's own field: the engine stays
    assert seen == [("config_changed", True)] and ctx.engine_ready
    seen.clear()
    ctx.update_config(min_face_size=32)
    assert ctx.service.settings.min_face_size == 32 and ctx.config.engine == ctx.service.settings
    assert [name for name, _ in seen] == ["engine_changed", "config_changed"] and not ctx.engine_ready
    qtbot.waitUntil(lambda: ctx.engine_ready, timeout=60000)
    assert ctx.pipeline.detector is not None and seen[-1][0] == "engine_changed"
