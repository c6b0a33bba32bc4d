"""Enrol a new person in three steps (details, samples, preview), without ever blocking the window.

Every check and the final save run as background tasks on a worker-scoped service; Finish saves
through the service's `enrol` in one transaction. The dialog is non-modal: open it with `show()`; its size is fixed (it fits 1366×768 and never grows
with the samples). The last page sums up what will be saved.

Steps: docs/DESKTOP.md#enrolling-someone
"""

from __future__ import annotations

import html
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
WIZARD_SIZE = (900, 620)  # fits a 1366×768 screen with its title bar and task bar


class EnrolWizard(QDialog):
    enrolled = Signal(object)  # the new core Person, after it was saved

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Enrol a new person")
        self.setModal(False)
        self.setFixedSize(*WIZARD_SIZE)
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
               "toggle_camera", "start_camera", "stop_camera", "remove_selected_candidate", "face_picker",
               "choose_face")
        expose(self, self.preview_page, "preview_view", "duplicate_label", "summary_label", "details_summary")
        # Enter on the details page presses the default Next button (once: no returnPressed handler as well)
        for edit in (self.name_edit, self.external_id_edit):
            edit.textChanged.connect(lambda _text: self.details_error.clear())  # an old complaint goes stale
        self._sample_error = False  # the status line complains about the samples
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
                self._say(f"Wait for the {self.candidates.pending} sample check(s) still running.", ERROR_STYLE, True)
                return False
            if not self.candidates.usable:
                self._say("Add at least one usable sample: import photos or capture from the camera.", ERROR_STYLE, True)
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

    def _say(self, text: str, style: str = "", about_samples: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(style)
        self._sample_error = about_samples

    # ------------------------------------------------------------------ samples and summary

    def capture(self) -> int | None:
        """Take the newest camera frame as a sample (checked in the background); its candidate id. Only
        on the samples page."""
        if self.page != SAMPLES:
            return None
        return self.samples_page.capture()

    def _update_summary(self) -> None:
        model = self.candidates
        if self._sample_error:
            self._say("")  # the samples changed: the complaint about them is out of date
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
        self.details_summary.setText(self.summary_html())
        if self.page == PREVIEW and not self._saving:
            self.preview_page.check_duplicates_if_changed()
        self._update_buttons()

    def summary_html(self) -> str:
        """What Finish will save: the details and the accepted samples."""
        details = self.details()
        rows = [("Name", details["name"] or "(none)"), ("External ID", details["external_id"] or "none"),
                ("Groups", "; ".join(details["groups"]) or "none")]
        if details["notes"]:
            rows.append(("Notes", details["notes"]))
        kept = [c.label for c in self.candidates.candidates if c.usable and c.accepted]
        rows.append((f"Samples ({len(kept)})", ", ".join(kept) or "none accepted"))
        cells = "".join(f"<tr><td><b>{html.escape(k)}:</b>&nbsp;</td><td>{html.escape(str(v))}</td></tr>"
                        for k, v in rows)
        return f"<table>{cells}</table>"

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
