"""The samples page of the enrolment wizard: import photos, or capture frames from the live camera
(Space or Capture; the wizard wires both, since it captures only while this page is shown). Under the
preview, the newest frame's verdict says why it would not be usable (no face, two faces, too small,
blurry...); one such check runs at a time, always on the newest frame. Every sample is checked in the
background with its own database connection; its verdict lands in the shared `CandidatesModel`, and
`changed` tells the wizard to update its summary. A photo or capture with several faces shows in a
`FacePicker` (desktop.enrol_faces): click a face or press its number to use it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout, QLabel, QListView, QPushButton, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget,
)

from core.gallery.enrol import Enroller, SampleVerdict
from core.errors import RollcallError
from core.attendance.grabber import Frame, SourceEvent
from core.vision.imageio import read_image
from desktop.camera_feed import CameraFeed
from desktop.context import AppContext
from desktop.dialogs import open_files_later
from desktop.enrol_candidates import Candidate, CandidatesModel
from desktop.enrol_faces import Box, FacePicker, faces_overview
from desktop.images import bgr_to_qimage
from desktop.tasks import Task, TaskControl
from desktop.widgets.helpers import WARNING_STYLE

LIVE_CHECK_INTERVAL_S = 0.15  # at most this often a new live-feedback check starts
PHOTO_FILTER = "Photos (*.jpg *.jpeg *.png *.bmp *.webp *.tif *.tiff *.pgm *.ppm);;All files (*)"


def live_advice(verdict: SampleVerdict) -> str:
    """What to tell the person in front of the camera about the newest frame."""
    if verdict.ok:
        return "Good: press Space (or Capture) to take this frame."
    reason = verdict.reason
    if "faces found" in reason:
        reason = f"{len(verdict.detections)} faces in view: only the person being enrolled should be visible"
    elif reason == "no face found":
        reason = "no face found: look at the camera"
    return f"Not usable: {reason}"


class SamplesPage(QWidget):
    changed = Signal()  # a sample was added or checked: the wizard's summary is out of date

    def __init__(self, ctx: AppContext, candidates: CandidatesModel) -> None:
        super().__init__()
        self.ctx = ctx
        self.candidates = candidates
        self.feed = CameraFeed(self)
        self.feed.frame_ready.connect(self._on_frame)
        self.feed.source_event.connect(self._on_source_event)
        self.live_verdict: SampleVerdict | None = None
        self.live_checks = 0
        self._live_task: Task | None = None
        self._live_last_start = 0.0
        self._live_failed = False
        self._captures = 0

        self.import_button = QPushButton("Import photos…")
        self.camera_button = QPushButton("Start camera")
        self.capture_button = QPushButton("Capture (Space)")
        self.import_button.setToolTip("Add photos of the person's face from files")
        self.camera_button.setToolTip("Show the camera here to capture the person's face")
        self.capture_button.setToolTip("Take the face now in view as a sample")
        self.import_button.clicked.connect(self.choose_photos)
        self.camera_button.clicked.connect(self.toggle_camera)
        for button in (self.import_button, self.camera_button, self.capture_button):
            button.setAutoDefault(False)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space is the capture key, not "press the focused button"

        self.preview_label = QLabel("Camera off")
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_label.setMinimumSize(QSize(400, 260))
        self.preview_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)  # frames never widen it
        self.face_picker = FacePicker()
        self.face_picker.face_chosen.connect(self._on_face_chosen)
        self.viewer = QStackedWidget()  # the camera preview, or the photo to choose a face in
        self.viewer.addWidget(self.preview_label)
        self.viewer.addWidget(self.face_picker)
        self.picking: int | None = None  # the candidate whose faces the picker shows
        for number in range(1, 10):
            QShortcut(QKeySequence(str(number)), self, lambda n=number: self.choose_face(n - 1),
                      context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.preview_label.setStyleSheet("background: #202020; color: #c0c0c0;")
        self.feedback_label = QLabel()
        self.feedback_label.setWordWrap(True)

        self.samples_view = QListView()
        self.samples_view.setModel(candidates)
        self.samples_view.setIconSize(QSize(64, 64))
        self.samples_view.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.samples_view.setWordWrap(True)
        self.samples_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.samples_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.samples_view.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.samples_view.selectionModel().currentChanged.connect(self._on_current_sample)
        self.remove_button = QPushButton("Remove from list")
        self.remove_button.setToolTip("Drop the selected photo; it is not enrolled")
        self.remove_button.setAutoDefault(False)
        self.remove_button.clicked.connect(self.remove_selected_candidate)
        self.samples_count = QLabel()
        self.samples_count.setWordWrap(True)

        left = QVBoxLayout()
        row = QHBoxLayout()
        for button in (self.import_button, self.camera_button, self.capture_button):
            row.addWidget(button)
        row.addStretch(1)
        left.addLayout(row)
        left.addWidget(self.viewer, 1)
        left.addWidget(self.feedback_label)
        right = QVBoxLayout()
        right.addWidget(QLabel("Samples"))
        right.addWidget(self.samples_view, 1)
        right.addWidget(self.samples_count)
        right.addWidget(self.remove_button)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 3)
        layout.addLayout(right, 2)

    # ------------------------------------------------------------------ photos

    def choose_photos(self) -> None:
        """A non-modal file dialog; the chosen files go to `add_photos`."""
        open_files_later(self, "Photos of the person", self.add_photos, name_filter=PHOTO_FILTER)

    def add_photos(self, paths: list[str | Path]) -> None:
        """Check each photo in the background; the verdicts appear in the sample list."""
        for path in paths:
            candidate = self.candidates.add(str(path), Path(path).name)
            self._start_check(candidate.id, path=str(path))
        self.changed.emit()

    # ------------------------------------------------------------------ camera

    def toggle_camera(self) -> None:
        if self.feed.running:
            self.stop_camera()
        else:
            self.start_camera()

    def start_camera(self, source: str | None = None) -> None:
        """Preview the configured source (or `source`): a camera, or a video file standing in for one."""
        spec = source or self.ctx.config.source
        self.live_verdict, self._live_failed = None, False
        self.ctx.camera_claimed.emit(spec)  # the Live tab lets go of a camera it is using
        self.feed.start(spec)
        self.show_camera()
        self.camera_button.setText("Stop camera")
        self.preview_label.setText(f"Opening {spec}…")
        self.feedback_label.setText("")

    def stop_camera(self) -> None:
        self.feed.stop()
        self.camera_button.setText("Start camera")

    def capture(self) -> int | None:
        """Take the newest camera frame as a sample (checked in the background); its candidate id."""
        frame = self.feed.latest
        if frame is None:
            self.feedback_label.setText("No camera frame yet: start the camera first.")
            return None
        self._captures += 1
        label = f"Capture {self._captures}"
        candidate = self.candidates.add(f"{self.feed_source_label()} frame {frame.index}", label,
                                        preview=bgr_to_qimage(frame.image))
        candidate.image = frame.image
        self._start_check(candidate.id, image=frame.image, source=candidate.source)
        self.changed.emit()
        return candidate.id

    def feed_source_label(self) -> str:
        return str(self.ctx.config.source)

    # ------------------------------------------------------------------ choosing a face

    def show_camera(self) -> None:
        self.picking = None
        self.viewer.setCurrentWidget(self.preview_label)

    def show_faces(self, candidate: Candidate) -> None:
        """Show the photo or frame with its numbered faces, to choose one."""
        self.picking = candidate.id
        self.face_picker.set_faces(candidate.preview, candidate.boxes, candidate.face_index)
        self.viewer.setCurrentWidget(self.face_picker)
        n = len(candidate.boxes or [])
        self.feedback_label.setText(f"{candidate.label}: {n} faces. Click the face of the person being enrolled, "
                                    f"or press its number (1–{min(n, 9)}).")
        self.feedback_label.setStyleSheet("")

    def choose_face(self, index: int) -> bool:
        """Use face `index` (0-based) of the photo shown in the picker; False when none is shown."""
        if self.picking is None or self.viewer.currentWidget() is not self.face_picker:
            return False
        return self.face_picker.choose(index)

    def _on_face_chosen(self, index: int) -> None:
        row = self.candidates.row_of(self.picking) if self.picking is not None else -1
        if row < 0:
            return
        candidate = self.candidates.choose_face(self.picking, index)
        self.feedback_label.setText(f"Checking face {index + 1} of {candidate.label.split(' (face ')[0]}…")
        if candidate.image is not None:
            self._start_check(candidate.id, image=candidate.image, source=candidate.source, face_index=index)
        else:
            self._start_check(candidate.id, path=candidate.source, face_index=index)
        if self.feed.running:
            self.show_camera()  # back to the camera for the next capture
        self.changed.emit()

    def _on_current_sample(self, current: QModelIndex, previous: QModelIndex) -> None:
        candidate = self.candidates.candidates[current.row()] if current.isValid() else None
        if candidate is not None and candidate.needs_choice:
            self.show_faces(candidate)
        elif self.picking is not None:
            self.show_camera()

    def _offer_choice(self, candidate: Candidate) -> None:
        """A photo or capture with several faces was just checked: show it for choosing."""
        if candidate.face_index is not None:
            return
        row = self.candidates.row_of(candidate.id)
        self.samples_view.selectionModel().setCurrentIndex(
            self.candidates.index(row), QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.show_faces(candidate)

    def _on_frame(self, frame: Frame) -> None:
        pixmap = QPixmap.fromImage(bgr_to_qimage(frame.image))
        self.preview_label.setPixmap(pixmap.scaled(self.preview_label.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                   Qt.TransformationMode.FastTransformation))
        self._maybe_check_live(frame)

    def _on_source_event(self, event: SourceEvent) -> None:
        if event.kind == "failed":
            self.ctx.notifier.error("Camera", event.message)
            self.preview_label.setText(event.message)
            self.camera_button.setText("Start camera")
        elif event.kind == "ended":
            self.feedback_label.setText(f"{event.message}. The last frame can still be captured.")
            self.camera_button.setText("Start camera")
        elif event.kind == "lost":
            self.feedback_label.setText(event.message)

    def _maybe_check_live(self, frame: Frame) -> None:
        """One live check at a time, on the newest frame, not more often than LIVE_CHECK_INTERVAL_S."""
        if self._live_task is not None or self._live_failed or not self.ctx.engine_ready:
            return
        if time.monotonic() - self._live_last_start < LIVE_CHECK_INTERVAL_S:
            return
        self._live_last_start = time.monotonic()
        work = self._check_work(0, image=frame.image, source="live preview", overview=False)
        self._live_task = self.ctx.tasks.run("Checking the camera frame", work,
                                             on_done=self._on_live_checked, on_failed=self._on_live_failed)

    def _on_live_checked(self, result: tuple[int, SampleVerdict | None, BaseException | None, None]) -> None:
        self._live_task = None
        _, verdict, error, _ = result
        if error is not None:
            self._on_live_failed(error)
            return
        self.live_checks += 1
        self.live_verdict = verdict
        if self.feed.running:
            self.feedback_label.setText(live_advice(verdict))
            self.feedback_label.setStyleSheet("" if verdict.ok else WARNING_STYLE)

    def _on_live_failed(self, exc: BaseException) -> None:
        self._live_task = None
        self._live_failed = True  # no stream of identical errors: restart the camera to try again
        self.ctx.notifier.exception("Checking the camera frame", exc)
        self.feedback_label.setText(f"The frames cannot be checked: {exc}")

    # ------------------------------------------------------------------ checks

    def _check_work(self, candidate_id: int, *, path: str | None = None, image: np.ndarray | None = None,
                    source: str = "", overview: bool = True, face_index: int | None = None):
        """The background function checking one photo or frame on a worker-scoped service (its own connection).
        Returns (candidate id, verdict, None, overview) or (candidate id, None, error, None), so an
        error reaches the right sample. `overview` is (the image with its faces numbered, their boxes),
        for verdicts without a crop (several faces); `face_index` checks the face the operator chose."""
        ctx = self.ctx
        pipeline = ctx.pipeline  # raises EngineNotReady here, on the GUI thread

        def work(control: TaskControl) -> tuple[int, SampleVerdict | None, BaseException | None,
                                                tuple[QImage, list[Box]] | None]:
            try:
                with ctx.service.connect() as service:
                    enroller = Enroller(pipeline, service.gallery)
                    verdict = (enroller.check_file(path, face_index) if path is not None
                               else enroller.check(image, source, face_index))
                boxed = None
                if overview and face_index is None and verdict.crop is None and len(verdict.detections) > 1:
                    boxed = faces_overview(read_image(path) if path is not None else image, verdict.detections)
                return candidate_id, verdict, None, boxed
            except Exception as exc:  # noqa: BLE001 - reported by the GUI thread, against this sample
                return candidate_id, None, exc, None

        return work

    def _start_check(self, candidate_id: int, *, path: str | None = None, image: np.ndarray | None = None,
                     source: str = "", face_index: int | None = None) -> None:
        try:
            work = self._check_work(candidate_id, path=path, image=image, source=source, face_index=face_index)
        except RollcallError as exc:
            self.ctx.notifier.exception("Checking a sample", exc)
            self.candidates.set_verdict(candidate_id, SampleVerdict(path or source, False, str(exc)))
            return
        self.ctx.tasks.run("Checking a sample", work, on_done=self._on_checked)

    def _on_checked(self, result: tuple[int, SampleVerdict | None, BaseException | None,
                                        tuple[QImage, list[Box]] | None]) -> None:
        candidate_id, verdict, error, boxed = result
        if error is not None:
            row = self.candidates.row_of(candidate_id)
            source = self.candidates.candidates[row].source if row >= 0 else "a sample"
            self.ctx.notifier.exception(f"Checking {source}", error)
            verdict = SampleVerdict(source, False, f"the check failed: {error}")
        image, boxes = boxed if boxed is not None else (None, None)
        candidate = self.candidates.set_verdict(candidate_id, verdict, image, boxes)
        if candidate is not None and candidate.needs_choice:
            if candidate.face_index is None:
                self._offer_choice(candidate)
            elif self.picking == candidate.id:
                self.feedback_label.setText(f"Face {candidate.face_index + 1}: "
                                            + ("accepted." if verdict.ok else f"not usable: {verdict.reason}"))
                self.feedback_label.setStyleSheet("" if verdict.ok else WARNING_STYLE)
        self.changed.emit()

    def remove_selected_candidate(self) -> None:
        rows = self.samples_view.selectionModel().selectedRows()
        if rows:
            self.candidates.remove(rows[0].row())
