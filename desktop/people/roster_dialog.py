"""Import a class list (CSV or XLSX): the preview shows what each row would do (new, update,
unchanged, skip) with its problems and warnings highlighted; Import writes the people and groups in one
transaction (`service.import_roster`) and then checks and enrols the listed photos (`enrol_jobs`) with
progress and Cancel. A file that cannot be read shows core's RosterError message; nothing is written."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import QWidget

from core.gallery.bulk import BulkReport
from core.register.roster import RosterPreview
from core.service import Rollcall
from desktop.context import AppContext
from desktop.dialogs import open_file
from desktop.people.bulk_dialog import BulkDialog, report_text
from desktop.people.common import PROBLEM_BACKGROUND, WARNING_BACKGROUND, set_row
from desktop.tasks import TaskControl

CLASS_LIST_FILTER = "Class lists (*.csv *.xlsx *.xlsm *.txt *.tsv);;All files (*)"
COLUMNS = ("Line", "Name", "External ID", "Groups", "Photos", "Action", "Problems / warnings")


@dataclass
class ImportResult:
    added: int  # people written as new
    updated: int
    report: BulkReport | None  # None: the list had no photos to check


def importable(preview: RosterPreview) -> bool:
    """Whether importing would change anything: a person to add or update, or photos to check."""
    return any(r.action in ("new", "update") or (r.action == "unchanged" and r.photos) for r in preview.rows)


class ImportRosterDialog(BulkDialog):
    source_label = "Class &list:"
    choose_text = "&Choose file…"
    choose_tip = "Choose the class list: an Excel or CSV file with a name column"
    columns = COLUMNS
    stretch_column = 6
    run_text = "&Import"
    run_tip = "Add the people listed (without photos; add them later)"
    preview_title = "Reading the class list"
    run_title = "Importing the class list"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.setWindowTitle("Import class list")
        self.source_edit.setPlaceholderText("a CSV or XLSX file with the columns name, external_id, group, "
                                            "photos, notes")

    def choose(self) -> None:
        path = open_file(self, "Import class list", self.source_edit.text(), CLASS_LIST_FILTER)
        if path:
            self.load(path)

    @staticmethod
    def read(service: Rollcall, source: str) -> RosterPreview:
        return service.preview_roster(source)

    def show_preview(self, preview: RosterPreview) -> None:
        self.table.setRowCount(len(preview.rows))
        for i, row in enumerate(preview.rows):
            notes = row.problems + row.warnings
            background = PROBLEM_BACKGROUND if row.problems else WARNING_BACKGROUND if row.warnings else None
            set_row(self.table, i, [row.line, row.name, row.external_id or "", "; ".join(row.groups), len(row.photos),
                                    row.action, "; ".join(notes)], background=background, tooltip="\n".join(notes))
        text = preview.summary()
        if not importable(preview):
            text += ". Nothing to import."
        self.summary_label.setText(text)

    def can_run(self, preview: RosterPreview) -> bool:
        return importable(preview)

    @staticmethod
    def execute(service: Rollcall, preview: RosterPreview, control: TaskControl) -> ImportResult:
        if preview.photos:
            service.enroller()  # the models are needed: fail before anything is written
        added, updated = preview.count("new"), preview.count("update")
        jobs = service.import_roster(preview)
        if not jobs:
            return ImportResult(added, updated, None)
        report = service.enrol_jobs(jobs, progress=control.progress, cancelled=lambda: control.cancelled)
        return ImportResult(added, updated, report)

    def describe(self, result: ImportResult) -> str:
        head = f"{result.added} people added, {result.updated} updated."
        if result.report is None:
            self.ctx.notifier.info("Class list imported", head)
            return head + " The list had no photos to check."
        self.ctx.notifier.info("Class list imported", f"{head} {result.report.summary()}")
        return head + "\n" + report_text(result.report)
