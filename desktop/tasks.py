"""Background work for the GUI: run a function on the thread pool with progress and cancel, and get
its result back on the GUI thread. Failures go to the notifier unless the caller handles them.

The function receives a `TaskControl`: `progress(done, total, text)` reports,
`cancelled` says whether the operator pressed Cancel (the function checks it
between steps and raises `core.gallery.store.CancelledError`, or returns early).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from core.gallery.store import CancelledError
from desktop.notifier import Notifier

logger = logging.getLogger(__name__)


class TaskControl:
    def __init__(self, task: Task) -> None:
        self._task = task

    def progress(self, done: int, total: int, text: str = "") -> None:
        self._task.progressed.emit(int(done), int(total), text)

    @property
    def cancelled(self) -> bool:
        return self._task.cancel_requested.is_set()


class Task(QObject):
    """Handle of one background job; its signals arrive on the GUI thread.

    `done` is set on the worker thread before the outcome (succeeded / failed / cancelled) is
    emitted, so a handler of the outcome that asks "is this task still running?" gets no.
    `settled` turns true on the GUI thread once the handlers of the outcome and of `finished` have
    all run (for code that waits on a task, such as the screenshot script)."""

    progressed = Signal(int, int, str)
    succeeded = Signal(object)
    failed = Signal(object)  # the exception
    cancelled = Signal()
    finished = Signal()  # after succeeded / failed / cancelled
    ended = Signal()  # after every handler of finished (events from one thread arrive in order)

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title = title
        self.cancel_requested = threading.Event()
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.settled = False
        self.ended.connect(self._settle)

    def _settle(self) -> None:
        self.settled = True

    def cancel(self) -> None:
        self.cancel_requested.set()


class _Runnable(QRunnable):
    def __init__(self, task: Task, fn: Callable[[TaskControl], Any]) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self.task, self.fn = task, fn

    def run(self) -> None:
        task = self.task
        try:
            task.result = self.fn(TaskControl(task))
        except CancelledError:
            task.done.set()
            task.cancelled.emit()
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the GUI
            task.error = exc
            task.done.set()
            task.failed.emit(exc)
        else:
            task.done.set()
            task.succeeded.emit(task.result)
        task.finished.emit()
        task.ended.emit()


class TaskRunner(QObject):
    """Starts tasks on a private thread pool; keeps them alive until they finish.

    A task starts when control returns to the event loop, so connecting to the returned Task's
    signals right after `run()` never misses one (a task that failed at once would otherwise
    emit before the caller could connect)."""

    def __init__(self, notifier: Notifier, max_threads: int = 2) -> None:
        super().__init__()
        self.notifier = notifier
        self.pool = QThreadPool()
        self.pool.setMaxThreadCount(max_threads)
        self.running: set[Task] = set()
        self._pending: list[_Runnable] = []

    def run(self, title: str, fn: Callable[[TaskControl], Any], *,
            on_done: Callable[[Any], None] | None = None,
            on_failed: Callable[[BaseException], None] | None = None,
            on_progress: Callable[[int, int, str], None] | None = None) -> Task:
        task = Task(title)
        if on_done is not None:
            task.succeeded.connect(on_done)
        if on_progress is not None:
            task.progressed.connect(on_progress)
        task.failed.connect(on_failed if on_failed is not None else (lambda exc: self.notifier.exception(title, exc)))
        task.cancelled.connect(lambda: self.notifier.info(title, "cancelled"))
        self.running.add(task)
        task.ended.connect(lambda: self.running.discard(task))
        self._pending.append(_Runnable(task, fn))
        QTimer.singleShot(0, self._start_pending)
        return task

    def _start_pending(self) -> None:
        pending, self._pending = self._pending, []
        for runnable in pending:
            self.pool.start(runnable)

    @property
    def idle(self) -> bool:
        """No task is waiting to start or running, and every finished task's handlers have run."""
        return not self._pending and not self.running

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until every task finished (for shutdown and tests)."""
        self._start_pending()
        return self.pool.waitForDone(timeout_ms)
