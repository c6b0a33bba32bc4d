from __future__ import annotations

import threading

import pytest

from desktop.notifier import Notifier


def test_notices_from_worker_threads_arrive_in_order(qtbot) -> None:
    notifier = Notifier()
    received = []
    notifier.posted.connect(lambda n: received.append((n.text, threading.get_ident())))
    worker = threading.Thread(target=lambda: [notifier.warning("Source", f"lost {i}") for i in range(3)])
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(received) == 3, timeout=5000)
    assert [r[0] for r in received] == ["lost 0", "lost 1", "lost 2"]
    assert {r[1] for r in received} == {threading.get_ident()}


def test_unknown_level_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        Notifier().post("panic", "x", "y")
