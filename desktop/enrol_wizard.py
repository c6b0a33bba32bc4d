"""Enrol a new person in three steps, without ever blocking the window:

1. details: name (required), external id, group, notes;
2. samples: import photos, or capture frames from the live camera (Space or
   Capture). Under the preview, the newest frame's verdict says why it would
   not be usable (no face, two faces, too small, blurry...); one such check
   runs at a time, always on the newest frame;
3. preview: the aligned crops the model will see, each accepted or rejected
   (with the reason), a warning when the new person looks like someone already
   enrolled, and the recommended number of samples.

Every check and the final save run as background tasks, each opening its own
database connection; Finish saves through `core.gallery.enrol.Enroller.enrol` (one
transaction) and then announces `ctx.gallery_changed`. Errors go to the
notifier. The dialog is non-modal: open it with `show()`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListView, QPlainTextEdit,
    QPushButton, QStackedWidget, QVBoxLayout, QWidget,
)

from core.vision.detect.base import Detection
from core.gallery.enrol import RECOMMENDED_SAMPLES, DuplicateWarning, Enroller, SampleVerdict
from core.errors import RollcallError
from core.attendance.grabber import Frame, SourceEvent
from core.gallery.store import Gallery, Person
from core.vision.imageio import read_image
from core.vision.pipeline import FacePipeline
from desktop.camera_feed import CameraFeed
from desktop.context import AppContext
from desktop.enrol_candidates import CandidatesModel
from desktop.images import bgr_to_qimage
from desktop.tasks import Task, TaskControl

logger = logging.getLogger(__name__)

DETAILS, SAMPLES, PREVIEW = range(3)
LIVE_CHECK_INTERVAL_S = 0.15  # at most this often a new live-feedback check starts
PHOTO_FILTER = "Photos (*.jpg *.jpeg *.png *.bmp *.webp *.tif *.tiff *.pgm *.ppm);;All files (*)"
OVERVIEW_SIDE = 240  # pixels: the longest side of the boxed preview of a photo with several faces
ERROR_STYLE = "color: #b3261e;"
WARNING_STYLE = "color: #8a5300;"


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


def faces_overview(image: np.ndarray, detections: list[Detection], longest: int = OVERVIEW_SIDE) -> QImage:
    """A small copy of the image with each face boxed (thread-safe: a QImage)."""
    scale = min(1.0, longest / max(image.shape[:2]))
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image.copy()
    for d in detections:
        x1, y1, x2, y2 = (np.asarray(d.box) * scale).round().astype(int)
        cv2.rectangle(small, (x1, y1), (x2, y2), (0, 200, 255), 2)
    return bgr_to_qimage(small)


def duplicate_text(warnings: list[DuplicateWarning]) -> str:
    if not warnings:
        return ""
    who = "; ".join(f"{w.person.name} (score {w.score:.2f})" for w in warnings)
    return f"Looks like {who}, already enrolled. Make sure this is a different person before saving."


class EnrolWizard(QDialog):
    enrolled = Signal(object)  # the new core Person, after it was saved

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Enrol a new person")
        self.setModal(False)
        self.resize(900, 620)
        self.candidates = CandidatesModel()
        self.candidates.acceptance_changed.connect(self._update_summary)
        self.feed = CameraFeed(self)
        self.feed.frame_ready.connect(self._on_frame)
        self.feed.source_event.connect(self._on_source_event)
        self.person: Person | None = None  # set once saved
        self.duplicates: list[DuplicateWarning] = []
        self.duplicates_checked = False
        self.live_verdict: SampleVerdict | None = None
        self.live_checks = 0
        self._live_task: Task | None = None
        self._live_last_start = 0.0
        self._live_failed = False
        self._duplicate_generation = 0
        self._saving = False
        self._captures = 0
        self._duplicates_for: tuple[int, ...] | None = None  # the accepted samples the duplicate check ran on

        self.pages = QStackedWidget()
        self.pages.addWidget(self._build_details_page())
        self.pages.addWidget(self._build_samples_page())
        self.pages.addWidget(self._build_preview_page())

        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.back_button = QPushButton("< Back")
        self.next_button = QPushButton("Next >")
        self.finish_button = QPushButton("Finish")
        self.cancel_button = QPushButton("Cancel")
        self.back_button.clicked.connect(self.back)
        self.next_button.clicked.connect(self.next)
        self.finish_button.clicked.connect(self.finish)
        self.cancel_button.clicked.connect(self.reject)
        self.next_button.setDefault(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status_label, 1)
        for button in (self.back_button, self.next_button, self.finish_button, self.cancel_button):
            button.setAutoDefault(False)
            buttons.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.pages, 1)
        layout.addLayout(buttons)
        self._show_page(DETAILS)

    # ------------------------------------------------------------------ pages

    def _build_details_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        intro = QLabel("<h3>Who is being enrolled?</h3>")
        form.addRow(intro)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("required")
        self.external_id_edit = QLineEdit()
        self.external_id_edit.setPlaceholderText("optional: staff or student number (unique)")
        self.group_edit = QLineEdit()
        self.group_edit.setPlaceholderText("optional: class, team, department")
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setMaximumHeight(90)
        form.addRow("Name *", self.name_edit)
        form.addRow("External ID", self.external_id_edit)
        form.addRow("Group", self.group_edit)
        form.addRow("Notes", self.notes_edit)
        self.details_error = QLabel()
        self.details_error.setStyleSheet(ERROR_STYLE)
        self.details_error.setWordWrap(True)
        form.addRow(self.details_error)
        self.name_edit.returnPressed.connect(self.next)
        return page

    def _build_samples_page(self) -> QWidget:
        page = QWidget()
        self.samples_page = page
        self.import_button = QPushButton("Import photos…")
        self.camera_button = QPushButton("Start camera")
        self.capture_button = QPushButton("Capture (Space)")
        self.import_button.clicked.connect(self.choose_photos)
        self.camera_button.clicked.connect(self.toggle_camera)
        self.capture_button.clicked.connect(self.capture)
        for button in (self.import_button, self.camera_button, self.capture_button):
            button.setAutoDefault(False)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space is the capture key, not "press the focused button"
        QShortcut(QKeySequence(Qt.Key.Key_Space), page, self.capture,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)

        self.preview_label = QLabel("Camera off")
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_label.setMinimumSize(QSize(400, 260))
        self.preview_label.setStyleSheet("background: #202020; color: #c0c0c0;")
        self.feedback_label = QLabel()
        self.feedback_label.setWordWrap(True)

        self.samples_view = QListView()
        self.samples_view.setModel(self.candidates)
        self.samples_view.setIconSize(QSize(64, 64))
        self.samples_view.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.remove_button = QPushButton("Remove from list")
        self.remove_button.setAutoDefault(False)
        self.remove_button.clicked.connect(self.remove_selected_candidate)
        self.samples_count = QLabel()

        left = QVBoxLayout()
        row = QHBoxLayout()
        for button in (self.import_button, self.camera_button, self.capture_button):
            row.addWidget(button)
        row.addStretch(1)
        left.addLayout(row)
        left.addWidget(self.preview_label, 1)
        left.addWidget(self.feedback_label)
        right = QVBoxLayout()
        right.addWidget(QLabel("Samples"))
        right.addWidget(self.samples_view, 1)
        right.addWidget(self.samples_count)
        right.addWidget(self.remove_button)
        layout = QHBoxLayout(page)
        layout.addLayout(left, 3)
        layout.addLayout(right, 2)
        return page

    def _build_preview_page(self) -> QWidget:
        page = QWidget()
        self.preview_view = QListView()
        self.preview_view.setModel(self.candidates)
        self.preview_view.setViewMode(QListView.ViewMode.IconMode)
        self.preview_view.setIconSize(QSize(112, 112))
        self.preview_view.setResizeMode(QListView.ResizeMode.Adjust)
        self.preview_view.setWordWrap(True)
        self.preview_view.setMovement(QListView.Movement.Static)
        self.duplicate_label = QLabel()
        self.duplicate_label.setWordWrap(True)
        self.duplicate_label.setStyleSheet(WARNING_STYLE + " font-weight: bold;")
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        layout = QVBoxLayout(page)
        layout.addWidget(QLabel("These aligned faces are what the recognition model will learn. "
                                "Untick any you do not want to keep."))
        layout.addWidget(self.preview_view, 1)
        layout.addWidget(self.duplicate_label)
        layout.addWidget(self.summary_label)
        return page

    # ------------------------------------------------------------------ navigation

    @property
    def page(self) -> int:
        return self.pages.currentIndex()

    def next(self) -> bool:
        """Go to the next page when this one is complete; otherwise say what is missing."""
        if self.page == DETAILS:
            problem = self._details_problem()
            self.details_error.setText(problem)
            if problem:
                return False
            self._show_page(SAMPLES)
            return True
        if self.page == SAMPLES:
            if self.candidates.pending:
                self._say(f"Wait for the {self.candidates.pending} sample check(s) still running.", ERROR_STYLE)
                return False
            if not self.candidates.usable:
                self._say("Add at least one usable sample: import photos or capture from the camera.", ERROR_STYLE)
                return False
            self.stop_camera()
            self._show_page(PREVIEW)  # starts the duplicate check
            return True
        return False

    def back(self) -> None:
        if self.page > DETAILS and not self._saving:
            if self.page == SAMPLES:
                self.stop_camera()
            self._show_page(self.page - 1)

    def _show_page(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        self._say("")
        self._update_buttons()
        self._update_summary()
        if index == DETAILS:
            self.name_edit.setFocus()
        elif index == SAMPLES:
            self.samples_view.setFocus()

    def _update_buttons(self) -> None:
        page, saving = self.page, self._saving
        self.back_button.setEnabled(page > DETAILS and not saving)
        self.next_button.setVisible(page < PREVIEW)
        self.finish_button.setVisible(page == PREVIEW)
        self.finish_button.setEnabled(page == PREVIEW and not saving and bool(self.candidates.accepted_verdicts()))
        self.cancel_button.setEnabled(not saving)

    def _pipeline(self, title: str) -> FacePipeline | None:
        """The engine, or None (reported) while the models are not loaded."""
        try:
            return self.ctx.pipeline
        except RollcallError as exc:
            self.ctx.notifier.exception(title, exc)
            self._say(str(exc), ERROR_STYLE)
            return None

    def _say(self, text: str, style: str = "") -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(style)

    def details(self) -> dict[str, str | None]:
        return {
            "name": self.name_edit.text().strip(),
            "external_id": self.external_id_edit.text().strip() or None,
            "group_name": self.group_edit.text().strip(),
            "notes": self.notes_edit.toPlainText().strip(),
        }

    def _details_problem(self) -> str:
        details = self.details()
        if not details["name"]:
            return "Enter the person's name."
        external_id = details["external_id"]
        if external_id:
            taken = [p for p in self.ctx.gallery.find_people(external_id) if p.external_id == external_id]
            if taken:
                return f"The external ID '{external_id}' already belongs to {taken[0].name}."
        return ""

    # ------------------------------------------------------------------ samples: photos

    def choose_photos(self) -> None:
        """A non-modal file dialog; the chosen files go to `add_photos`."""
        dialog = QFileDialog(self, "Photos of the person", "", PHOTO_FILTER)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.filesSelected.connect(self.add_photos)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def add_photos(self, paths: list[str | Path]) -> None:
        """Check each photo in the background; the verdicts appear in the sample list."""
        for path in paths:
            candidate = self.candidates.add(str(path), Path(path).name)
            self._start_check(candidate.id, path=str(path))
        self._update_summary()

    # ------------------------------------------------------------------ samples: camera

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
        self.camera_button.setText("Stop camera")
        self.preview_label.setText(f"Opening {spec}…")
        self.feedback_label.setText("")

    def stop_camera(self) -> None:
        self.feed.stop()
        self.camera_button.setText("Start camera")

    def capture(self) -> int | None:
        """Take the newest camera frame as a sample (checked in the background); its candidate id."""
        if self.page != SAMPLES:
            return None
        frame = self.feed.latest
        if frame is None:
            self.feedback_label.setText("No camera frame yet: start the camera first.")
            return None
        self._captures += 1
        label = f"Capture {self._captures}"
        candidate = self.candidates.add(f"{self.feed_source_label()} frame {frame.index}", label,
                                        preview=bgr_to_qimage(frame.image))
        self._start_check(candidate.id, image=frame.image, source=candidate.source)
        self._update_summary()
        return candidate.id

    def feed_source_label(self) -> str:
        return str(self.ctx.config.source)

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
                    source: str = "", overview: bool = True):
        """The background function checking one photo or frame with its own database connection.
        Returns (candidate id, verdict, None, overview) or (candidate id, None, error, None), so an
        error reaches the right sample. `overview` is the image with its faces boxed, for verdicts
        without a crop (several faces)."""
        ctx = self.ctx
        pipeline = ctx.pipeline  # raises EngineNotReady here, on the GUI thread

        def work(control: TaskControl) -> tuple[int, SampleVerdict | None, BaseException | None, QImage | None]:
            try:
                with ctx.open_database() as db:
                    enroller = Enroller(pipeline, Gallery(db))
                    verdict = enroller.check_file(path) if path is not None else enroller.check(image, source)
                boxed = None
                if overview and verdict.crop is None and verdict.detections:
                    boxed = faces_overview(read_image(path) if path is not None else image, verdict.detections)
                return candidate_id, verdict, None, boxed
            except Exception as exc:  # noqa: BLE001 - reported by the GUI thread, against this sample
                return candidate_id, None, exc, None

        return work

    def _start_check(self, candidate_id: int, *, path: str | None = None, image: np.ndarray | None = None,
                     source: str = "") -> None:
        try:
            work = self._check_work(candidate_id, path=path, image=image, source=source)
        except RollcallError as exc:
            self.ctx.notifier.exception("Checking a sample", exc)
            self.candidates.set_verdict(candidate_id, SampleVerdict(path or source, False, str(exc)))
            return
        self.ctx.tasks.run("Checking a sample", work, on_done=self._on_checked)

    def _on_checked(self, result: tuple[int, SampleVerdict | None, BaseException | None, QImage | None]) -> None:
        candidate_id, verdict, error, boxed = result
        if error is not None:
            row = self.candidates.row_of(candidate_id)
            source = self.candidates.candidates[row].source if row >= 0 else "a sample"
            self.ctx.notifier.exception(f"Checking {source}", error)
            verdict = SampleVerdict(source, False, f"the check failed: {error}")
        self.candidates.set_verdict(candidate_id, verdict, boxed)
        self._update_summary()

    def remove_selected_candidate(self) -> None:
        rows = self.samples_view.selectionModel().selectedRows()
        if rows:
            self.candidates.remove(rows[0].row())

    # ------------------------------------------------------------------ preview

    def _check_duplicates(self) -> None:
        verdicts = self.candidates.accepted_verdicts()
        self._duplicate_generation += 1
        generation = self._duplicate_generation
        self.duplicates, self.duplicates_checked = [], False
        self.duplicate_label.setText("")
        pipeline = self._pipeline("Looking for duplicates")
        if not verdicts or pipeline is None:
            self.duplicates_checked = True
            return
        ctx = self.ctx

        def work(control: TaskControl) -> tuple[int, list[DuplicateWarning]]:
            with ctx.open_database() as db:
                return generation, Enroller(pipeline, Gallery(db)).possible_duplicates(verdicts)

        ctx.tasks.run("Looking for duplicates", work, on_done=self._on_duplicates)

    def _on_duplicates(self, result: tuple[int, list[DuplicateWarning]]) -> None:
        generation, warnings = result
        if generation != self._duplicate_generation:
            return  # the accepted samples changed meanwhile; a newer check is running
        self.duplicates, self.duplicates_checked = warnings, True
        self.duplicate_label.setText(duplicate_text(warnings))

    def _update_summary(self) -> None:
        model = self.candidates
        accepted = len(model.accepted_verdicts())
        low, high = RECOMMENDED_SAMPLES
        rejected = len(model.candidates) - model.usable - model.pending
        text = f"{accepted} sample(s) accepted"
        if rejected:
            text += f", {rejected} not usable"
        if model.pending:
            text += f", {model.pending} being checked"
        text += f". {low}–{high} good samples are recommended"
        text += "." if low <= accepted <= high else (": add a few more." if accepted < low else ": fewer would do.")
        self.samples_count.setText(text)
        self.summary_label.setText(text)
        self.summary_label.setStyleSheet("" if low <= accepted <= high else WARNING_STYLE)
        if self.page == PREVIEW and not self._saving:
            self._check_duplicates_if_changed()
        self._update_buttons()

    def _check_duplicates_if_changed(self) -> None:
        ids = tuple(id(v) for v in self.candidates.accepted_verdicts())
        if ids != self._duplicates_for:
            self._duplicates_for = ids
            self._check_duplicates()

    # ------------------------------------------------------------------ finish

    def finish(self) -> bool:
        """Save the person with the accepted samples (in the background); False when not possible now."""
        if self.page != PREVIEW or self._saving:
            return False
        verdicts = self.candidates.accepted_verdicts()
        if not verdicts:
            self._say("Accept at least one sample.", ERROR_STYLE)
            return False
        details = self.details()
        name = details.pop("name")
        pipeline = self._pipeline(f"Enrolling {name}")
        if pipeline is None:
            return False
        ctx = self.ctx

        def work(control: TaskControl) -> Person:
            with ctx.open_database() as db:
                return Enroller(pipeline, Gallery(db)).enrol(name, verdicts, **details)

        self._saving = True
        self._update_buttons()
        self._say(f"Saving {name}…")
        ctx.tasks.run(f"Enrolling {name}", work, on_done=self._on_saved, on_failed=self._on_save_failed)
        return True

    def _on_saved(self, person: Person) -> None:
        self._saving = False
        self.person = person
        self.ctx.gallery_changed.emit()
        self.ctx.notifier.info("Enrolled", f"{person.name} with {person.n_samples} sample(s)")
        self.enrolled.emit(person)
        self.accept()

    def _on_save_failed(self, exc: BaseException) -> None:
        self._saving = False
        self.ctx.notifier.exception("Enrolment", exc)
        self._say(f"Not saved: {exc}", ERROR_STYLE)
        self._update_buttons()

    # ------------------------------------------------------------------ closing

    def done(self, result: int) -> None:  # accept, reject, Escape and the close button all end here
        if self._saving:
            return  # the save is running; the dialog closes when it finished
        self.shutdown()
        super().done(result)

    def shutdown(self) -> None:
        """Stop the camera (and its grabber thread)."""
        self.stop_camera()
