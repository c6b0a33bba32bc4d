"""Enrol a new person in three steps (details, samples, preview), without ever blocking the window.

Every check and the final save run as background tasks on a worker-scoped service; Finish saves
through the service's `enrol` in one transaction. The dialog is non-modal: open it with `show()`.

Steps: docs/DESKTOP.md#enrolling-someone
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QStackedWidget, QVBoxLayout, QWidget

from core.gallery.enrol import RECOMMENDED_SAMPLES, DuplicateWarning, SampleVerdict
from core.errors import RollcallError
from core.gallery.store import Person
from core.vision.pipeline import FacePipeline
from desktop.context import AppContext
from desktop.enrol_candidates import CandidatesModel
from desktop.enrol_details import DetailsPage
from desktop.enrol_preview import PreviewPage
from desktop.enrol_samples import PHOTO_FILTER, SamplesPage
from desktop.tasks import TaskControl
from desktop.widgets.helpers import ERROR_STYLE, expose

__all__ = ["DETAILS", "PHOTO_FILTER", "PREVIEW", "SAMPLES", "EnrolWizard"]  # PHOTO_FILTER: the People tab's too

logger = logging.getLogger(__name__)

DETAILS, SAMPLES, PREVIEW = range(3)


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
        self.person: Person | None = None  # set once saved
        self._saving = False

        self.details_page = DetailsPage()
        self.samples_page = SamplesPage(ctx, self.candidates)
        self.preview_page = PreviewPage(ctx, self.candidates, self._pipeline)
        expose(self, self.details_page, "name_edit", "external_id_edit", "group_edit", "notes_edit", "details_error",
               "details")
        expose(self, self.samples_page, "feed", "import_button", "camera_button", "capture_button", "preview_label",
               "feedback_label", "samples_view", "remove_button", "samples_count", "choose_photos", "add_photos",
               "toggle_camera", "start_camera", "stop_camera", "remove_selected_candidate")
        expose(self, self.preview_page, "preview_view", "duplicate_label", "summary_label")
        self.name_edit.returnPressed.connect(self.next)
        self.samples_page.changed.connect(self._update_summary)
        # capturing goes through the wizard, which takes a frame only while the samples page is shown
        self.capture_button.clicked.connect(self.capture)
        QShortcut(QKeySequence(Qt.Key.Key_Space), self.samples_page, self.capture,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.pages = QStackedWidget()
        for page in (self.details_page, self.samples_page, self.preview_page):
            self.pages.addWidget(page)

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

    @property
    def live_verdict(self) -> SampleVerdict | None:
        """The verdict on the newest camera frame checked."""
        return self.samples_page.live_verdict

    @property
    def live_checks(self) -> int:
        return self.samples_page.live_checks

    @property
    def duplicates(self) -> list[DuplicateWarning]:
        return self.preview_page.duplicates

    @property
    def duplicates_checked(self) -> bool:
        return self.preview_page.duplicates_checked

    # ------------------------------------------------------------------ navigation

    @property
    def page(self) -> int:
        return self.pages.currentIndex()

    def next(self) -> bool:
        """Go to the next page when this one is complete; otherwise say what is missing."""
        if self.page == DETAILS:
            problem = self.details_page.problem(self.ctx.service.gallery)
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

    # ------------------------------------------------------------------ samples and summary

    def capture(self) -> int | None:
        """Take the newest camera frame as a sample (checked in the background); its candidate id. Only
        on the samples page."""
        if self.page != SAMPLES:
            return None
        return self.samples_page.capture()

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
        self.preview_page.show_summary(text, low <= accepted <= high)
        if self.page == PREVIEW and not self._saving:
            self.preview_page.check_duplicates_if_changed()
        self._update_buttons()

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
        if self._pipeline(f"Enrolling {name}") is None:
            return False
        ctx = self.ctx

        def work(control: TaskControl) -> Person:
            with ctx.service.connect() as service:
                return service.enrol(name, verdicts, **details)

        self._saving = True
        self._update_buttons()
        self._say(f"Saving {name}…")
        ctx.tasks.run(f"Enrolling {name}", work, on_done=self._on_saved, on_failed=self._on_save_failed)
        return True

    def _on_saved(self, person: Person) -> None:
        self._saving = False
        self.person = person  # the tables have re-read the gallery: the service's report came first
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
