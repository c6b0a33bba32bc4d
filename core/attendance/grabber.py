"""Frames for the live loop: a one-slot mailbox that only ever holds the newest frame, and a
grabber thread that fills it from a `FrameSource`.

The recogniser takes whatever frame is newest when it is ready for the next
one; frames that arrived in between are dropped (and counted), never queued,
so the delay between a frame and its names stays bounded however slow
recognition is. Video files are played at their recorded speed by default
(they stand in for a camera); `pace="every_frame"` instead hands over every
frame and waits for it to be taken, for analysing a recording completely and
reproducibly. A live source that stops delivering is reopened with back-off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.errors import ConfigError
from core.attendance.sources import FrameSource, SourceError

logger = logging.getLogger(__name__)

PACES = ("realtime", "every_frame")


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # BGR uint8
    t: float  # source time in seconds: the video's clock for files, time since opening for live sources
    index: int  # the grabber's frame counter (dropped frames leave gaps)
    grabbed_at: float  # time.monotonic() when the frame was read


class LatestFrame:
    """A one-slot mailbox. `put` replaces an untaken frame (counted in `dropped`) unless asked to
    wait; `take` returns the newest frame, or None once closed and empty or on timeout."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self.dropped = 0
        self.taken = 0

    def put(self, frame: Frame, wait: bool = False, cancelled: Callable[[], bool] | None = None) -> bool:
        """Offer a frame. With `wait`, block until the previous one was taken (False when the slot
        was closed or `cancelled()` turned true meanwhile)."""
        with self._cond:
            while wait and self._frame is not None and not self._closed:
                if cancelled is not None and cancelled():
                    return False
                self._cond.wait(0.05)
            if self._closed:
                return False
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()
            return True

    def take(self, timeout: float | None = None) -> Frame | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._frame is None and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            frame, self._frame = self._frame, None
            if frame is not None:
                self.taken += 1
                self._cond.notify_all()
            return frame

    def close(self) -> None:
        """No more frames: wakes every waiter. A frame still in the slot can be taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


@dataclass(frozen=True)
class SourceEvent:
    """What happened to the source, for the operator. kind: opened, lost, reconnected, ended
    (a file reached its end), failed (cannot be opened; the grabber has stopped), stopped."""

    kind: str
    message: str
    retry_in_s: float = 0.0


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: first, doubling up to `longest` seconds."""

    first: float = 1.0
    longest: float = 30.0

    def delay(self, attempt: int) -> float:
        return min(self.longest, self.first * 2.0 ** max(attempt - 1, 0))


class FrameGrabber:
    """Reads a source on its own thread into a `LatestFrame` until stopped, the file ends, or the
    source cannot be opened. Events go to `on_event` (called on the grabber's thread)."""

    def __init__(self, source: FrameSource, slot: LatestFrame, *, pace: str = "realtime",
                 on_event: Callable[[SourceEvent], None] | None = None, backoff: Backoff | None = None) -> None:
        if pace not in PACES:
            raise ConfigError(f"unknown pace '{pace}': use one of {', '.join(PACES)}")
        self.source = source
        self.slot = slot
        self.pace = pace
        self.on_event = on_event or (lambda event: None)
        self.backoff = backoff or Backoff()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"grabber {source.label}", daemon=True)
        self.frames_read = 0

    def start(self) -> FrameGrabber:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.slot.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _emit(self, kind: str, message: str, retry_in_s: float = 0.0) -> None:
        try:
            self.on_event(SourceEvent(kind, message, retry_in_s))
        except Exception:  # a listener's bug must not kill the capture thread
            logger.exception("source event listener failed")

    def _run(self) -> None:
        try:
            self.source.open()
        except SourceError as exc:
            self._emit("failed", str(exc))
            self.slot.close()
            return
        self._emit("opened", f"{self.source.label} opened")
        try:
            self._read_loop()
        finally:
            self.source.close()
            self.slot.close()

    def _read_loop(self) -> None:
        wall0 = video0 = None
        index = 0
        while not self._stop.is_set():
            image, t = self.source.read()
            if image is None:
                if self.source.is_file:
                    self._emit("ended", f"{self.source.label} ended after {self.frames_read} frames")
                    return
                if not self._reconnect():
                    return
                continue
            self.frames_read += 1
            if self.source.is_file and self.pace == "realtime":
                if wall0 is None:
                    wall0, video0 = time.monotonic(), t
                ahead = (t - video0) - (time.monotonic() - wall0)
                if ahead > 0 and self._stop.wait(ahead):
                    return
            frame = Frame(image, t, index, time.monotonic())
            index += 1
            if not self.slot.put(frame, wait=self.pace == "every_frame", cancelled=self._stop.is_set):
                return

    def _reconnect(self) -> bool:
        """Reopen a live source that stopped delivering, waiting longer after each failure.
        False when stopped meanwhile."""
        self.source.close()
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            delay = self.backoff.delay(attempt)
            self._emit("lost", f"{self.source.label} stopped delivering frames; retrying in {delay:.0f} s", delay)
            if self._stop.wait(delay):
                return False
            try:
                self.source.open()
            except SourceError as exc:
                logger.info("reconnect attempt %d failed: %s", attempt, exc)
                continue
            self._emit("reconnected", f"{self.source.label} is back")
            return True
        return False
