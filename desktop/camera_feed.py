"""A camera preview feed for dialogs: a core `FrameGrabber` filling a `LatestFrame` on its own
thread, polled by a GUI-thread timer that hands on only the newest frame.

`frame_ready` fires on the GUI thread with each new `core.attendance.grabber.Frame`;
`source_event` carries the current grabber's `SourceEvent`s (opened, ended,
failed...), relayed to the GUI thread. `latest` keeps the newest frame for capturing, also
after a video file ended. Always `stop()` when the dialog closes.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from core.attendance.grabber import Frame, FrameGrabber, LatestFrame, SourceEvent
from core.attendance.sources import FrameSource

logger = logging.getLogger(__name__)

POLL_MS = 30
STOP_WAIT_S = 0.5  # at most this long the GUI waits for the grabber thread to end


class CameraFeed(QObject):
    frame_ready = Signal(object)  # Frame
    source_event = Signal(object)  # SourceEvent of the current grabber, on the GUI thread
    _grabber_event = Signal(int, object)  # (generation, SourceEvent) from a grabber thread, delivered queued

    def __init__(self, parent: QObject | None = None, poll_ms: int = POLL_MS) -> None:
        super().__init__(parent)
        self._grabber: FrameGrabber | None = None
        self._slot: LatestFrame | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self._poll)
        self.latest: Frame | None = None
        self.frames_seen = 0
        self.state = "stopped"  # stopped, opening, opened, ended, failed, lost, reconnected
        self._generation = 0  # events of a grabber stopped earlier (still closing) are ignored
        self._grabber_event.connect(self._on_grabber_event)
        app = QCoreApplication.instance()
        if app is not None:  # a window closed without stopping its feed must not leave the grabber running
            app.aboutToQuit.connect(self.stop)

    @property
    def running(self) -> bool:
        return self._grabber is not None and self._grabber.running

    def start(self, spec: str) -> None:
        """Open the source (a camera number, video file or stream URL) on the grabber's thread;
        a failure arrives as a 'failed' source event."""
        self.stop()
        self.latest, self.frames_seen, self.state = None, 0, "opening"
        self._slot = LatestFrame()
        self._generation += 1
        generation, relay = self._generation, self._grabber_event
        self._grabber = FrameGrabber(FrameSource(spec), self._slot, pace="realtime",
                                     on_event=lambda event: relay.emit(generation, event))
        self._grabber.start()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        if self._grabber is not None:
            # A source still opening (a stream that does not answer) would hold a longer join; the
            # grabber then finishes on its own and its late events are ignored.
            self._grabber.stop(timeout=STOP_WAIT_S)
            self._grabber = None
            self._slot = None
            if self.state not in ("ended", "failed"):
                self.state = "stopped"

    def _on_grabber_event(self, generation: int, event: SourceEvent) -> None:
        if generation != self._generation or self._grabber is None:
            return
        self.state = event.kind
        self.source_event.emit(event)

    def _poll(self) -> None:
        slot = self._slot
        if slot is None:
            return
        frame = slot.take(timeout=0)
        if frame is not None:
            self.latest = frame
            self.frames_seen += 1
            self.frame_ready.emit(frame)
        elif slot.closed:
            self._timer.stop()  # ended or failed: the grabber closed the slot and the last frame is taken
