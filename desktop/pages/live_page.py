"""The Live tab: the camera (or video) with recognised faces, the session being marked, its register
(who is here, who is not yet) and the marks as they happen, and the loop's speed. Recognition runs on
the long-lived RecognitionWorker; this page only starts and stops it, paints what it publishes, and
reports what happens to the source. F11 (or the Kiosk button) shows the kiosk view full screen; ending
a session shows its summary."""

from __future__ import annotations

import datetime as _dt
import logging
import time
from collections import deque

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QListView, QPushButton, QSplitter, QTabWidget, QVBoxLayout, QWidget,
)

from core.errors import RollcallError
from core.attendance.grabber import SourceEvent
from core.attendance.recogniser import live_settings
from desktop import STARTED_AT
from desktop.context import AppContext
from desktop.dialogs import open_file
from desktop.live_worker import RecognitionWorker, RunRequest
from desktop.register.kiosk import KioskWindow
from desktop.live_lag import LagMonitor
from desktop.register.register_panel import RegisterPanel
from desktop.register.session_dialogs import StartSessionDialog, SummaryDialog, ask_start_session
from desktop.tables.session_marks import SessionMarksModel
from desktop.widgets.source_picker import SourcePicker
from desktop.widgets.video_view import VideoView

logger = logging.getLogger(__name__)

LATENCY_WINDOW = 300  # frames kept for the latency percentile


class LivePage(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.worker = RecognitionWorker()
        self.latencies_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.frames_shown = 0
        self.lag = LagMonitor()
        self.last_frame = None
        self.source_state = ""
        self._pending_start = False
        self._outage_reported = False
        self._run_started_at = 0.0
        self.kiosk: KioskWindow | None = None
        self.start_dialog: StartSessionDialog | None = None
        self.summary_dialog: SummaryDialog | None = None

        # -- source and session controls
        self._started_source = ""
        self.source_picker = SourcePicker(ctx, "camera number (0), video file or rtsp:// URL", self.camera_in_use)
        self.source_edit = self.source_picker.edit  # its text is the source
        self.source_edit.setText(ctx.config.source)
        browse = QPushButton("&Video file…")
        browse.setToolTip("Choose a video file to recognise from")
        browse.clicked.connect(self._browse)
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Start recognising faces from the source above")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop recognising (the session stays open)")
        self.stop_button.clicked.connect(self.stop)
        self.session_combo = QComboBox()
        self.session_combo.setToolTip("The session the people recognised are marked in")
        self.session_combo.setMinimumWidth(200)
        self.session_combo.currentIndexChanged.connect(self._session_chosen)
        self.new_session_button = QPushButton("Start &session…")
        self.new_session_button.setToolTip("Open a new session (name, group, start time) and mark people in it")
        self.new_session_button.clicked.connect(self.ask_start_session)
        self.end_session_button = QPushButton("&End session")
        self.end_session_button.setToolTip("Close the chosen session and show who was present, late and absent")
        self.end_session_button.clicked.connect(self.end_session)
        self.kiosk_button = QPushButton("&Kiosk view")
        self.kiosk_button.setToolTip("Full screen for the people arriving (F11; Esc leaves)")
        self.kiosk_button.clicked.connect(self.toggle_kiosk)
        QShortcut(QKeySequence(Qt.Key.Key_F11), self, self.toggle_kiosk)

        controls = QHBoxLayout()
        source_label = QLabel("S&ource")
        source_label.setBuddy(self.source_picker.combo)
        controls.addWidget(source_label)
        controls.addWidget(self.source_picker, 3)
        controls.addWidget(browse)
        controls.addWidget(self.start_button)
        controls.addWidget(self.stop_button)
        sessions = QHBoxLayout()
        sessions.addWidget(QLabel("Session"))
        sessions.addWidget(self.session_combo, 1)
        sessions.addWidget(self.new_session_button)
        sessions.addWidget(self.end_session_button)
        sessions.addStretch(1)
        sessions.addWidget(self.kiosk_button)

        # -- video and marks
        self.view = VideoView()
        self.marks_model = SessionMarksModel(ctx.service.attendance)
        self.marks_list = QListView()
        self.marks_list.setModel(self.marks_model)
        self.marks_list.setUniformItemSizes(True)
        self.marks_title = QLabel("Marked")
        self.marks_title.setWordWrap(True)  # "No session: names are shown, nobody is marked" fits a narrow column
        self.marks_list.setWordWrap(True)
        self.marks_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        marks = QWidget()
        marks_layout = QVBoxLayout(marks)
        marks_layout.setContentsMargins(0, 0, 0, 0)
        marks_layout.addWidget(self.marks_title)
        marks_layout.addWidget(self.marks_list)
        self.register_panel = RegisterPanel(ctx)
        side = QTabWidget()
        side.setMinimumWidth(250)
        side.addTab(self.register_panel, "&Register")
        side.addTab(marks, "&Marks")
        self.side_tabs = side
        splitter = QSplitter()
        splitter.addWidget(self.view)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([1000, 280])

        # -- status line
        self.source_label = QLabel("Stopped")
        self.stats_label = QLabel("")
        self.stats_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        status = QHBoxLayout()
        status.addWidget(self.source_label, 1)
        status.addWidget(self.stats_label)

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addLayout(sessions)
        layout.addWidget(splitter, 1)
        layout.addLayout(status)

        self.worker.frame_ready.connect(self._show_frame)
        self.worker.marks_added.connect(self._marks_added)
        self.worker.source_event.connect(self._source_event)
        self.worker.failed.connect(lambda exc: ctx.notifier.exception("Recognition", exc))
        self.worker.running_changed.connect(self._running_changed)
        ctx.gallery_changed.connect(self.worker.request_reload)
        ctx.attendance_changed.connect(self._reload_sessions)
        ctx.engine_changed.connect(self._engine_changed)
        ctx.config_changed.connect(self._config_changed)
        ctx.camera_claimed.connect(self._camera_claimed)
        self._stats_timer = QTimer(self)
        self._stats_timer.timeout.connect(self._show_stats)
        self._stats_timer.start(500)
        self._reload_sessions()
        self._running_changed(False)

    # ------------------------------------------------------------------ actions

    @property
    def running(self) -> bool:
        return self.worker.running

    def start(self) -> None:
        source = self.source_edit.text().strip()
        if not source:
            self.ctx.notifier.error("Live", "Choose a source first: a camera number, a video file or a stream URL.")
            return
        if not self.ctx.engine_ready:
            if self.ctx.engine_error:
                self.ctx.notifier.error("Live", self.ctx.engine_error)
                return
            self._pending_start = True
            self.source_label.setText("Waiting for the models to load…")
            return
        if self.ctx.service.gallery.count_people() == 0:
            self.ctx.notifier.warning("Live", "Nobody is enrolled yet: every face will show as unknown. "
                                              "Enrol people in the People tab.")
        config = self.ctx.config
        # a video file read frame by frame gives the same marks on any machine: detection stays in step
        settings = live_settings(record_unknown=config.record_unknown, reproducible=config.file_pace == "every_frame"
                                 and not source.isdigit())
        self.latencies_ms.clear()
        self.lag.reset()
        self.frames_shown = 0
        self._outage_reported = False
        self.source_label.setText(f"Opening {source}…")
        self._started_source = source
        self._run_started_at = time.monotonic()
        self.worker.start(RunRequest(self.ctx.pipeline, self.ctx.service.connect, source, config.file_pace,
                                     self.current_session_id(), settings))

    def stop(self) -> None:
        self._pending_start = False
        self.worker.stop()
        self.source_label.setText("Stopped")

    def start_when_ready(self, session_name: str) -> None:
        """--session: open or start the session, then recognise as soon as the models are loaded."""
        self.start_session(session_name)
        self.start()

    def start_session(self, name: str) -> None:
        """Watch the open session called `name`, or start it (without a group)."""
        name = name.strip() or _dt.datetime.now().strftime("Session %Y-%m-%d %H:%M")
        try:
            session = self.ctx.service.open_or_start(name)  # a new one is in the list now
        except RollcallError as exc:
            self.ctx.notifier.exception("Session", exc)
            return
        self._select_session(session.id)

    def ask_start_session(self) -> StartSessionDialog:
        """Open (without blocking) the dialog for a new session's name, group, start and lateness; the
        session started is the one watched."""
        self.start_dialog = ask_start_session(self.ctx, self, lambda session: self._select_session(session.id))
        return self.start_dialog

    def end_session(self) -> SummaryDialog | None:
        """End the watched session and show its register's summary (opened, not blocking)."""
        session_id = self.current_session_id()
        if session_id is None:
            return None
        try:
            session = self.ctx.service.stop_session(session_id)
            register = self.ctx.service.register(session_id)
        except RollcallError as exc:
            self.ctx.notifier.exception("Session", exc)
            return None
        self.ctx.notifier.info("Session", f"'{session.name}' ended")
        return self.show_summary(register)

    def show_summary(self, register) -> SummaryDialog:
        if self.summary_dialog is not None:
            self.summary_dialog.deleteLater()
        self.summary_dialog = SummaryDialog(self, self.ctx, register)
        self.summary_dialog.open()
        return self.summary_dialog

    # ------------------------------------------------------------------ kiosk

    def open_kiosk(self) -> KioskWindow:
        if self.kiosk is None:
            self.kiosk = KioskWindow(self.ctx, self.register_panel)
        self.kiosk.open_full_screen()
        return self.kiosk

    def toggle_kiosk(self) -> None:
        if self.kiosk is not None and self.kiosk.isVisible():
            self.kiosk.request_leave()
        else:
            self.open_kiosk()

    def current_session_id(self) -> int | None:
        data = self.session_combo.currentData()
        return int(data) if data is not None else None

    def shutdown(self) -> None:
        self._stats_timer.stop()
        if self.kiosk is not None:
            self.kiosk.leave()
            self.kiosk.deleteLater()
            self.kiosk = None
        self.source_picker.cancel()
        self.worker.shutdown()

    # ------------------------------------------------------------------ worker signals

    def _show_frame(self) -> None:
        frame = self.worker.take_frame()
        if frame is None:
            return
        if self.kiosk is not None and self.kiosk.isVisible():  # the page's view is hidden behind it
            self.kiosk.show_frame(frame.image, frame.faces)
        else:
            self.view.show_frame(frame.image, frame.faces)
        now = time.monotonic()
        self.latencies_ms.append((now - frame.grabbed_at) * 1e3)
        if self.frames_shown == 0:  # start-up cost, as measured by packaging/build_and_check.sh
            logger.info("first frame shown after %.2f s (%.2f s after Start)", now - STARTED_AT,
                        now - self._run_started_at)
        self.frames_shown += 1
        self.last_frame = frame
        self._check_lag(frame.index, now)

    def _check_lag(self, index: int, now: float) -> None:
        """Say so when recognition falls behind a live source, instead of silently missing people."""
        change = self.lag.add(index, now)
        if change == "behind":
            self.ctx.notifier.warning(
                "Live", f"Recognition is falling behind: {self.lag.skipped:.0%} of frames skipped over the last "
                        f"{self.lag.window_s:.0f} s, so people may be marked late or missed. Close other programs, "
                        f"or choose a lower camera resolution or a faster model in Settings.")
        elif change == "caught up":
            self.ctx.notifier.info("Live", "Recognition has caught up with the camera.")

    def _marks_added(self, marks) -> None:
        """Say who was marked (the lists re-read the marks on `attendance_changed`: the run's service reports them)."""
        for mark in marks:
            sure = f" (confidence {mark.confidence})" if mark.confidence is not None else ""
            self.ctx.notifier.info("Marked", f"{mark.person_name}{sure}")

    def _source_event(self, event: SourceEvent) -> None:
        self.source_state = event.kind
        if event.kind == "failed":
            self.source_label.setText(event.message)
            self.view.clear(event.message)
            self.ctx.notifier.error("Source", event.message)
        elif event.kind == "lost":
            self.source_label.setText(event.message)
            if not self._outage_reported:
                self._outage_reported = True
                self.ctx.notifier.warning("Source", event.message)
        elif event.kind == "reconnected":
            self._outage_reported = False
            self.source_label.setText(event.message)
            self.ctx.notifier.info("Source", event.message)
        elif event.kind == "ended":
            self.source_label.setText(event.message)
        elif event.kind == "opened":
            self.source_label.setText(f"Recognising from {event.message.removesuffix(' opened')}")

    def _running_changed(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        if not running and self.source_state not in ("failed", "ended"):
            self.source_label.setText("Stopped")

    def _engine_changed(self) -> None:
        if self.ctx.engine_ready and (self._pending_start or self.running):
            self._pending_start = False
            self.start()  # a running view restarts with the new models
        elif not self.ctx.engine_ready and self.running:
            self.worker.stop()
            self._pending_start = True

    def _show_stats(self) -> None:
        frame = self.last_frame
        if not self.running or frame is None:
            self.stats_label.setText("")
            return
        p95 = float(np.percentile(np.asarray(self.latencies_ms), 95)) if self.latencies_ms else 0.0
        behind = f" · falling behind ({self.lag.skipped:.0%} skipped)" if self.lag.behind else ""
        self.stats_label.setText(f"{frame.fps:.1f} fps · latency p95 {p95:.0f} ms · {frame.dropped} frames skipped"
                                 f" · {len(frame.faces)} face(s){behind}")

    # ------------------------------------------------------------------ sessions

    def _reload_sessions(self) -> None:
        current = self.current_session_id()
        self.session_combo.blockSignals(True)
        self.session_combo.clear()
        self.session_combo.addItem("No session (recognise only)", None)
        for s in self.ctx.service.attendance.sessions():
            if s.open:
                self.session_combo.addItem(s.name, s.id)
        self.session_combo.blockSignals(False)
        self._select_session(current)

    def _select_session(self, session_id: int | None) -> None:
        index = max(0, self.session_combo.findData(session_id)) if session_id is not None else 0
        self.session_combo.setCurrentIndex(index)
        self._session_chosen()

    def _session_chosen(self) -> None:
        session_id = self.current_session_id()
        self.worker.set_session(session_id)
        self.marks_model.set_session(session_id)
        self.register_panel.set_session(session_id)
        self.end_session_button.setEnabled(session_id is not None)
        name = self.session_combo.currentText()
        self.marks_title.setText(f"Marked in '{name}': {self.marks_model.rowCount()}" if session_id is not None
                                 else "No session: names are shown, nobody is marked")

    def camera_in_use(self) -> set[int]:
        """The camera this tab is recognising from: Find cameras lists it without opening it."""
        return {int(self._started_source)} if self.running and self._started_source.isdecimal() else set()

    def _camera_claimed(self, spec: str) -> None:
        """A camera can be open in one place only: stop recognising when the enrolment wizard takes it."""
        if self.running and spec.strip().isdigit() and spec.strip() == self.source_edit.text().strip():
            self.stop()
            self.ctx.notifier.info("Live", f"stopped: camera {spec.strip()} is being used for enrolment")

    def _config_changed(self) -> None:
        self.source_edit.setText(self.ctx.config.source)
        if self.marks_model.attendance is not self.ctx.service.attendance:  # another data folder
            self.marks_model.attendance = self.ctx.service.attendance
            self.register_panel.set_session(None)  # the same id may name another session there
            self._reload_sessions()

    def _browse(self) -> None:
        path = open_file(self, "Choose a video", "", "Videos (*.mp4 *.avi *.mov *.mkv *.gif);;All files (*)")
        if path:
            self.source_edit.setText(path)
