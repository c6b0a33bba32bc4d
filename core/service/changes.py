"""What an operation changed, and the subscribers told about it.

Every operation of the service that commits reports one `Changes` after its
transaction committed; a failed operation reports nothing. Subscribers are
called on the thread that ran the operation (a GUI adapter moves them onto its
own thread); an exception in one is logged and never breaks the operation or
the other subscribers. `ChangeHub.batch()` gathers the reports of several
operations on this thread into one.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Changes:
    people: bool = False  # people added, renamed, edited or deleted
    samples: bool = False  # stored faces added or removed (templates rebuilt)
    model: bool = False  # the active model or its threshold
    sessions: bool = False  # sessions started or stopped
    marks: bool = False  # attendance marks (automatic or manual) or kept unknown faces
    settings: bool = False  # the engine settings
    engine: bool = False  # the active pipeline (built, replaced or dropped for a rebuild)

    def __or__(self, other: Changes) -> Changes:
        return Changes(**{f.name: getattr(self, f.name) or getattr(other, f.name) for f in fields(self)})

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    @property
    def gallery(self) -> bool:
        """People, their faces, templates or the active model."""
        return self.people or self.samples or self.model

    @property
    def attendance(self) -> bool:
        return self.sessions or self.marks

    @classmethod
    def everything(cls) -> Changes:
        return cls(**{f.name: True for f in fields(cls)})


Subscriber = Callable[[Changes], None]


class ChangeHub:
    """The subscribers of one database's service (shared by its worker connections)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._local = threading.local()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(changes)` after every operation that changed something; returns the
        function that unsubscribes it (calling it twice is harmless)."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Operations on this thread inside the block report once, when the outermost block ends
        (what did commit is reported even when the block raises)."""
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            self._local.pending = Changes()
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            if depth == 0:
                pending, self._local.pending = self._local.pending, Changes()
                self._deliver(pending)

    def report(self, changes: Changes) -> None:
        if not changes:
            return
        if getattr(self._local, "depth", 0) > 0:
            self._local.pending = self._local.pending | changes
            return
        self._deliver(changes)

    def _deliver(self, changes: Changes) -> None:
        if not changes:
            return
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(changes)
            except Exception:  # a listener's bug must not undo or break what was done
                logger.exception("a subscriber of the service's changes failed (%s)", changes)
