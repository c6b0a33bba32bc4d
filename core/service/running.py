"""Recognising a source through the service: core.attendance.grabber' grabber fills a one-slot mailbox on its own
thread (pacing files, reconnecting live sources with back-off) and the recogniser takes the newest
frame, marking attendance through the service's connection.

`SourceRun.frames()` yields (frame, report) for callers with their own per-frame work (the desktop's
worker: session switches, template reloads, publishing); `SourceRun.run()` is the whole loop with a
callback, a stop event and limits (the CLI, tests). New marks are reported as `Changes(marks=True)`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.attendance.marks import Mark
from core.attendance.grabber import Backoff, Frame, FrameGrabber, LatestFrame, SourceEvent
from core.attendance.recogniser import FrameReport, RecognitionSettings, Recogniser
from core.attendance.sources import FrameSource, SourceError
from core.vision.pipeline import FacePipeline
from core.service.changes import Changes

if TYPE_CHECKING:
    from core.service.rollcall import Rollcall

logger = logging.getLogger(__name__)

TAKE_TIMEOUT_S = 0.25  # how often a waiting loop looks at its stop event


@dataclass(frozen=True)
class RunSummary:
    frames: int  # frames recognised
    elapsed_s: float
    dropped: int  # frames the mailbox dropped because recognition was busy (realtime pace only)
    marks: list[Mark]  # the session's marks when the run ended (all of them, not only this run's)
    how: str  # "ended" (the file ended), "stopped", "frame limit", "time limit"


class SourceRun:
    """One source recognised into a session. Create it with `Rollcall.open_run`; `close()` (from any
    thread, never blocking) ends `frames()` at the next frame."""

    def __init__(self, service: Rollcall, source: str | int | FrameSource, session_id: int | None,
                 settings: RecognitionSettings | None = None, *, pace: str = "realtime",
                 on_event: Callable[[SourceEvent], None] | None = None, backoff: Backoff | None = None,
                 pipeline: FacePipeline | None = None) -> None:
        self.service = service
        self.source = source if isinstance(source, FrameSource) else FrameSource(source)
        self.recogniser = Recogniser(pipeline or service.pipeline(), service.gallery, service.attendance,
                                     session_id, settings, self.source.label)
        self.slot = LatestFrame()
        self.failure = ""  # why the source could not be opened ("" when it was)
        self._on_event = on_event
        self.grabber = FrameGrabber(self.source, self.slot, pace=pace, on_event=self._event, backoff=backoff)

    @property
    def dropped(self) -> int:
        return self.slot.dropped

    def _event(self, event: SourceEvent) -> None:
        if event.kind == "failed":
            self.failure = event.message
        logger.info("%s", event.message)
        if self._on_event is not None:
            self._on_event(event)

    def close(self) -> None:
        self.slot.close()
        self.recogniser.close()

    def frames(self, stop: threading.Event | None = None,
               before_frame: Callable[[Recogniser], None] | None = None) -> Iterator[tuple[Frame, FrameReport]]:
        """Recognise the newest frame, again and again, until the source ends or fails, `stop` is set or
        the run is closed. `before_frame(recogniser)` runs just before each frame is recognised (to
        switch the session or reload the templates)."""
        self.grabber.start()
        try:
            while stop is None or not stop.is_set():
                frame = self.slot.take(timeout=TAKE_TIMEOUT_S)
                if frame is None:
                    if self.slot.closed:
                        return
                    continue
                if before_frame is not None:
                    before_frame(self.recogniser)
                report = self.recogniser.process(frame.image, frame.t)
                if report.new_marks:
                    self.service.hub.report(Changes(marks=True))
                yield frame, report
        finally:
            self.grabber.stop()
            self.recogniser.close(wait=True)

    def run(self, on_report: Callable[[Frame, FrameReport], None] | None = None, *,
            stop: threading.Event | None = None, max_seconds: float | None = None,
            max_frames: int | None = None) -> RunSummary:
        """The whole loop; raises SourceError when the source could not be opened at all."""
        started = time.monotonic()
        count, how = 0, "ended"
        frames = self.frames(stop)
        try:
            for frame, report in frames:
                count += 1
                if on_report is not None:
                    on_report(frame, report)
                if max_frames and count >= max_frames:
                    how = "frame limit"
                    break
                if max_seconds and time.monotonic() - started >= max_seconds:
                    how = "time limit"
                    break
            else:
                how = "stopped" if stop is not None and stop.is_set() else "ended"
        finally:
            frames.close()  # stops the grabber now, also on an exception (Ctrl+C)
        if self.failure and count == 0:
            raise SourceError(self.failure)
        session_id = self.recogniser.session_id
        marks = self.service.attendance.marks(session_id) if session_id is not None else []
        return RunSummary(count, time.monotonic() - started, self.dropped, marks, how)
