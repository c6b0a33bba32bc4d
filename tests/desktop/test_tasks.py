from __future__ import annotations

import threading

from core.errors import RollcallError
from core.gallery.store import CancelledError
from desktop.notifier import Notifier
from desktop.tasks import TaskRunner


def test_results_and_progress_arrive_on_the_gui_thread(qtbot) -> None:
    runner = TaskRunner(Notifier())
    seen: list = []
    gui = threading.get_ident()

    def work(control):
        for i in range(3):
            control.progress(i + 1, 3, "step")
        return threading.get_ident()

    def on_done(result) -> None:
        # a handler of the outcome already sees the task as done (so "is it still running?" says no)
        seen.append(("done", result, threading.get_ident(), task.done.is_set()))

    task = runner.run("count", work, on_done=on_done,
                      on_progress=lambda d, t, text: seen.append(("progress", d, threading.get_ident())))
    task.finished.connect(lambda: seen.append(("finished",)))  # a listener connected after run()
    assert not task.settled and not runner.idle
    qtbot.waitUntil(lambda: task.settled, timeout=5000)
    assert runner.idle
    done = [s for s in seen if s[0] == "done"]
    assert len(done) == 1 and seen[-1] == ("finished",)  # settled only after every handler ran
    assert done[0][1] != gui and done[0][2] == gui  # ran on a pool thread, reported on the GUI thread
    assert done[0][3] is True
    assert [s[1] for s in seen if s[0] == "progress"] == [1, 2, 3]


def test_a_task_that_fails_at_once_still_reaches_late_listeners(qtbot) -> None:
    runner = TaskRunner(Notifier())
    task = runner.run("Loading empty.pt", lambda control: 1 / 0, on_failed=lambda exc: None)
    threading.Event().wait(0.2)  # were the task already running, it would have failed by now
    finished = []
    task.finished.connect(lambda: finished.append(True))  # connected after run() returned
    qtbot.waitUntil(lambda: bool(finished), timeout=5000)
    assert isinstance(task.error, ZeroDivisionError)


def test_failures_reach_the_notifier(qtbot) -> None:
    notifier = Notifier()
    runner = TaskRunner(notifier)

    def boom(control):
        raise RollcallError("The file x.pt is empty.")

    runner.run("Loading x.pt", boom)
    qtbot.waitUntil(lambda: bool(notifier.history), timeout=5000)
    assert notifier.history[0].level == "error" and notifier.history[0].text == "The file x.pt is empty."


def test_unexpected_errors_are_reported_as_such(qtbot) -> None:
    notifier = Notifier()
    TaskRunner(notifier).run("Oops", lambda control: 1 / 0)
    qtbot.waitUntil(lambda: bool(notifier.history), timeout=5000)
    assert "Unexpected error (ZeroDivisionError" in notifier.history[0].text


def test_cancel_is_seen_by_the_work_and_reported(qtbot) -> None:
    notifier = Notifier()
    runner = TaskRunner(notifier)
    started = threading.Event()

    def slow(control):
        started.set()
        while not control.cancelled:
            threading.Event().wait(0.01)
        raise CancelledError("stopped")

    task = runner.run("Re-embedding", slow)
    qtbot.waitUntil(started.is_set, timeout=5000)
    task.cancel()
    qtbot.waitUntil(lambda: bool(notifier.history), timeout=5000)
    assert notifier.history[0].level == "info" and notifier.history[0].text == "cancelled"
    assert task.error is None
