"""Enrol from a folder with one sub-folder of photos per person (named after them or their External
ID): the plan shows who each sub-folder is (an enrolled person gets more photos, anyone else is new)
and how many photos it has; Enrol checks every photo in the background with progress and Cancel, and
puts everyone into the chosen group (optional; a new name creates it)."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QLabel, QWidget

from core.gallery.bulk import BulkReport, EnrolJob
from core.service import Rollcall
from desktop.context import AppContext
from desktop.dialogs import open_folder
from desktop.people.bulk_dialog import BulkDialog, report_text
from desktop.people.common import WARNING_BACKGROUND, set_row
from desktop.tasks import TaskControl

COLUMNS = ("Sub-folder", "Person", "Enrolment", "Photos")


class EnrolFolderDialog(BulkDialog):
    source_label = "&Folder:"
    choose_text = "&Choose folder…"
    choose_tip = "Choose the folder: one sub-folder of photos per person, named after them or their ID"
    columns = COLUMNS
    stretch_column = 1
    run_text = "&Enrol"
    run_tip = "Enrol everyone listed, checking each photo (can be cancelled)"
    preview_title = "Reading the folder"
    run_title = "Enrolling from a folder"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.setWindowTitle("Enrol from folder")
        self.source_edit.setPlaceholderText("a folder with one sub-folder of photos per person")
        self.group_combo = QComboBox()
        self.group_combo.setEditable(True)
        self.group_combo.lineEdit().setPlaceholderText("none (or choose a group, or type a new one)")
        self.group_combo.setToolTip("Everyone enrolled from the folder joins this group")
        self.fill_groups()
        group_label = QLabel("&Group:")
        group_label.setBuddy(self.group_combo)
        self.form.addRow(group_label, self.group_combo)
        ctx.gallery_changed.connect(self.fill_groups)

    def fill_groups(self) -> None:
        typed = self.group_combo.currentText()
        self.group_combo.clear()
        self.group_combo.addItems([""] + [g.name for g in self.ctx.service.groups.all()])
        self.group_combo.setCurrentText(typed)

    def set_group(self, name: str) -> None:
        self.group_combo.setCurrentText(name)

    def choose(self) -> None:
        path = open_folder(self, "Enrol from folder", self.source_edit.text())
        if path:
            self.load(path)

    @staticmethod
    def read(service: Rollcall, source: str) -> list[EnrolJob]:
        return service.plan_enrol_folder(source)

    def show_preview(self, jobs: list[EnrolJob]) -> None:
        self.table.setRowCount(len(jobs))
        for row, job in enumerate(jobs):
            folder = job.photos[0].parent.name if job.photos else ""
            kind = (f"skipped: {job.problem}" if job.problem else
                    "existing person: adds photos" if job.person_id is not None else "new person")
            set_row(self.table, row, [folder or job.name, job.name, kind, len(job.photos)],
                    background=WARNING_BACKGROUND if job.problem else None, tooltip=job.problem)
        new = sum(job.person_id is None for job in jobs)
        photos = sum(len(job.photos) for job in jobs)
        self.summary_label.setText(f"{len(jobs)} sub-folder(s): {new} new, {len(jobs) - new} already enrolled; "
                                   f"{photos} photos to check" + ("" if photos else ". Nothing to enrol."))

    def can_run(self, jobs: list[EnrolJob]) -> bool:
        return any(job.photos and not job.problem for job in jobs)

    def run_args(self) -> dict[str, object]:
        return {"group": self.group_combo.currentText().strip() or None}

    @staticmethod
    def execute(service: Rollcall, jobs: list[EnrolJob], control: TaskControl, group: str | None = None) -> BulkReport:
        return service.enrol_jobs(jobs, group=group, progress=control.progress, cancelled=lambda: control.cancelled)

    def describe(self, report: BulkReport) -> str:
        self.ctx.notifier.info("Enrolled from a folder", report.summary())
        return report_text(report)
