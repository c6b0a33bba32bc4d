"""The last page of the enrolment wizard: the aligned crops the model will learn, each accepted or
rejected (with the reason, untick to drop one), a summary of the details and samples to be saved, a warning when the new person looks like someone already
enrolled, and the summary against the recommended number of samples. The duplicate check runs in the
background whenever the accepted samples changed; an answer about older samples is dropped."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QListView, QVBoxLayout, QWidget

from core.gallery.enrol import DuplicateWarning, Enroller
from core.vision.pipeline import FacePipeline
from desktop.context import AppContext
from desktop.enrol_candidates import CandidatesModel
from desktop.tasks import TaskControl
from desktop.widgets.helpers import WARNING_STYLE

DUPLICATES_TITLE = "Looking for duplicates"


def duplicate_text(warnings: list[DuplicateWarning]) -> str:
    if not warnings:
        return ""
    who = "; ".join(f"{w.person.name} (score {w.score:.2f})" for w in warnings)
    return f"Looks like {who}, already enrolled. Make sure this is a different person before saving."


class PreviewPage(QWidget):
    def __init__(self, ctx: AppContext, candidates: CandidatesModel,
                 pipeline: Callable[[str], FacePipeline | None]) -> None:
        """`pipeline(title)`: the engine, or None (reported under `title`) while the models are not loaded."""
        super().__init__()
        self.ctx = ctx
        self.candidates = candidates
        self._pipeline = pipeline
        self.duplicates: list[DuplicateWarning] = []
        self.duplicates_checked = False
        self._generation = 0
        self._checked_for: tuple[int, ...] | None = None  # the accepted samples the duplicate check ran on
        self.preview_view = QListView()
        self.preview_view.setModel(candidates)
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
        self.details_summary = QLabel()  # the wizard fills it: who will be saved, with which samples
        self.details_summary.setWordWrap(True)
        self.details_summary.setTextFormat(Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<h3>Check and save</h3>"))
        layout.addWidget(self.details_summary)
        layout.addWidget(QLabel("These aligned faces are what the recognition model will learn. "
                                "Untick any you do not want to keep."))
        layout.addWidget(self.preview_view, 1)
        layout.addWidget(self.duplicate_label)
        layout.addWidget(self.summary_label)

    def show_summary(self, text: str, recommended: bool) -> None:
        self.summary_label.setText(text)
        self.summary_label.setStyleSheet("" if recommended else WARNING_STYLE)

    def check_duplicates_if_changed(self) -> None:
        ids = tuple(id(v) for v in self.candidates.accepted_verdicts())
        if ids != self._checked_for:
            self._checked_for = ids
            self._check_duplicates()

    def _check_duplicates(self) -> None:
        verdicts = self.candidates.accepted_verdicts()
        self._generation += 1
        generation = self._generation
        self.duplicates, self.duplicates_checked = [], False
        self.duplicate_label.setText("")
        pipeline = self._pipeline(DUPLICATES_TITLE)
        if not verdicts or pipeline is None:
            self.duplicates_checked = True
            return
        ctx = self.ctx

        def work(control: TaskControl) -> tuple[int, list[DuplicateWarning]]:
            with ctx.service.connect() as service:
                return generation, Enroller(pipeline, service.gallery).possible_duplicates(verdicts)

        ctx.tasks.run(DUPLICATES_TITLE, work, on_done=self._on_duplicates)

    def _on_duplicates(self, result: tuple[int, list[DuplicateWarning]]) -> None:
        generation, warnings = result
        if generation != self._generation:
            return  # the accepted samples changed meanwhile; a newer check is running
        self.duplicates, self.duplicates_checked = warnings, True
        self.duplicate_label.setText(duplicate_text(warnings))
