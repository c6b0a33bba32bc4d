"""The recognition loop of the desktop app: one long-lived worker thread.

It takes the newest frame from the grabber's one-slot mailbox, recognises it through a worker-scoped
service, and hands the GUI only the newest result, so a busy GUI never builds a backlog of stale
frames; attendance marks are never dropped. It talks only through signals and never touches a widget.

Threads and rules: docs/DESKTOP.md#threads
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from core.attendance.grabber import Backoff
from core.attendance.sources import FrameSource
from core.attendance.recogniser import FrameReport, RecognitionSettings, Recogniser
from core.vision.pipeline import FacePipeline
from core.service import Rollcall, SourceRun
from desktop.images import bgr_to_qimage

logger = logging.getLogger(__name__)

FPS_WINDOW_S = 2.0


KNOWN, UNKNOWN, CHECKING, NOT_VOTING = "known", "unknown", "checking", "not voting"


@dataclass(frozen=True)
class FaceOverlay:
    """What the live view shows of one face, on the operator's scale (never the raw cosine)."""

    box: tuple[float, float, float, float]
    name: str | None  # who it is; None for every state but KNOWN
    confidence: int | None  # 0-100, 50 = the bar (core.gallery.policy.confidence); None: no score to show
    track_id: int
    state: str = KNOWN  # KNOWN | UNKNOWN | CHECKING (not read yet) | NOT_VOTING (too small or blurry)
    hint: str = ""  # why a NOT_VOTING face does not count: "too small" | "blurry" (core's FaceReport.hint)


@dataclass(frozen=True)
class LiveFrame:
    image: QImage
    faces: list[FaceOverlay]
    index: int
    t: float
    grabbed_at: float  # time.monotonic() when the frame was read
    processed_at: float
    process_ms: float
    fps: float  # processed frames per second over the last couple of seconds
    dropped: int  # frames dropped by the mailbox since the source was opened
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRequest:
    pipeline: FacePipeline
    connect: Callable[[], Rollcall]  # opens the run's service, on the worker thread (closed after the run)
    source: str | FrameSource  # a spec (camera number, file, URL) or a ready source object
    pace: str
    session_id: int | None
    settings: RecognitionSettings
    backoff: Backoff | None = None  # reconnect delays for live sources (None: the default)


def overlays(report: FrameReport, confidence_of: Callable[[float, str], int | None]) -> list[FaceOverlay]:
    """The overlays of a frame's faces. `confidence_of(score, route)` turns a cosine into the operator's
    scale (Recogniser.confidence_for). A face that does not vote (core's rule: FaceReport.votes/hint) is
    never shown as anyone, whatever it was recognised as before."""
    out = []
    for face in report.faces:
        box = tuple(float(v) for v in face.box)
        m = face.match
        if not face.votes:
            out.append(FaceOverlay(box, None, None, face.track_id, NOT_VOTING, face.hint or "not used"))
        elif m is None or not math.isfinite(m.score):  # waiting for its turn to be read
            out.append(FaceOverlay(box, None, None, face.track_id, CHECKING))
        elif m.best_person_id is None:  # nobody enrolled: nothing to compare with
            out.append(FaceOverlay(box, None, None, face.track_id, UNKNOWN))
        else:
            value = confidence_of(float(m.score), face.route)
            state = KNOWN if m.known else UNKNOWN
            out.append(FaceOverlay(box, m.name if m.known else None, value, face.track_id, state))
    return out


class RecognitionWorker(QObject):
    frame_ready = Signal()  # a new LiveFrame waits in `take_frame()`
    marks_added = Signal(object)  # list[Mark]
    source_event = Signal(object)  # core.attendance.grabber.SourceEvent
    failed = Signal(object)  # an exception that stopped the run
    running_changed = Signal(bool)

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._request: RunRequest | None = None
        self._stop_run = threading.Event()
        self._quit = False
        self._reload = threading.Event()
        self._session_id: int | None = None
        self._latest: LiveFrame | None = None
        self._poked = False
        self._run: SourceRun | None = None
        self._frame_started = 0.0
        self.running = False
        self.frames_processed = 0
        self._thread = threading.Thread(target=self._loop, name="recognition", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ GUI side (thread-safe)

    def start(self, request: RunRequest) -> None:
        """Begin recognising `request.source`; a running source is stopped first."""
        with self._wake:
            self._stop_current()
            self._request = request
            self._session_id = request.session_id
            self._wake.notify_all()

    def stop(self) -> None:
        with self._wake:
            self._request = None
            self._stop_current()

    def set_session(self, session_id: int | None) -> None:
        self._session_id = session_id

    def request_reload(self) -> None:
        """The gallery changed: re-read the templates before the next frame."""
        self._reload.set()

    def take_frame(self) -> LiveFrame | None:
        with self._lock:
            frame, self._latest, self._poked = self._latest, None, False
            return frame

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._wake:
            self._quit = True
            self._request = None
            self._stop_current()
            self._wake.notify_all()
        self._thread.join(timeout)

    def _stop_current(self) -> None:
        self._stop_run.set()
        if self._run is not None:
            self._run.close()

    # ------------------------------------------------------------------ worker thread

    def _loop(self) -> None:
        while True:
            with self._wake:
                while self._request is None and not self._quit:
                    self._wake.wait()
                if self._quit:
                    return
                request, self._request = self._request, None
                self._stop_run.clear()
            self.running = True
            self.running_changed.emit(True)
            try:
                self._run_request(request)
            except Exception as exc:  # reaches the notifier through the page
                logger.exception("recognition stopped")
                self.failed.emit(exc)
            finally:
                self.running = False
                self.running_changed.emit(False)

    def _run_request(self, request: RunRequest) -> None:
        with request.connect() as service:
            run = service.open_run(request.source, request.session_id, request.settings, pace=request.pace,
                                   on_event=self.source_event.emit, backoff=request.backoff,
                                   pipeline=request.pipeline)
            with self._lock:
                if self._stop_run.is_set():
                    return
                self._run = run
            done: deque[float] = deque()
            try:
                for frame, report in run.frames(self._stop_run, self._before_frame):
                    now = time.monotonic()
                    done.append(now)
                    while done and now - done[0] > FPS_WINDOW_S:
                        done.popleft()
                    fps = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 and done[-1] > done[0] else 0.0
                    self.frames_processed += 1
                    process_ms = (time.perf_counter() - self._frame_started) * 1e3
                    faces = overlays(report, run.recogniser.confidence_for)
                    live = LiveFrame(bgr_to_qimage(frame.image), faces, frame.index, frame.t,
                                     frame.grabbed_at, now, process_ms, fps, run.dropped, report.timings_ms)
                    if report.new_marks:
                        self.marks_added.emit(list(report.new_marks))
                    self._publish(live)
            finally:
                with self._lock:
                    self._run = None

    def _before_frame(self, recogniser: Recogniser) -> None:
        self._frame_started = time.perf_counter()
        if self._reload.is_set():
            self._reload.clear()
            recogniser.reload()
        recogniser.session_id = self._session_id

    def _publish(self, frame: LiveFrame) -> None:
        with self._lock:
            self._latest = frame
            poke = not self._poked
            self._poked = True
        if poke:
            self.frame_ready.emit()

