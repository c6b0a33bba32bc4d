"""The operations on groups, class lists, bulk enrolment, registers and reports (mixed into `Rollcall`
like core.service.operations; each that commits reports one `Changes`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.attendance.marks import Attendance, Session
from core.gallery.bulk import BulkProgress, BulkReport, EnrolJob, plan_folder, run_jobs
from core.gallery.enrol import Enroller
from core.gallery.groups import Group, Groups
from core.gallery.store import Gallery, GalleryError, Person
from core.register.reports import (GroupReport, HistoryLine, group_report, person_history, register_sheet,
                                   registers_between)
from core.register.roster import RosterPreview, apply_roster, preview_roster
from core.register.sheets import Sheet, write_sheet
from core.register.status import Register, build_register
from core.storage.db import Database

Cancelled = Callable[[], bool] | None


class RegisterOperations:
    """Mixed into `Rollcall`, which provides the attributes below."""

    gallery: Gallery
    attendance: Attendance
    db: Database

    enroller: Callable[[], Enroller]  # provided by Operations

    def _report(self, **flags: bool) -> None:  # provided by Rollcall
        raise NotImplementedError

    # ------------------------------------------------------------------ groups

    @property
    def groups(self) -> Groups:
        return Groups(self.db)

    def group(self, ref: str | int | None) -> Group | None:
        """A group by id or name (None: no group)."""
        if ref is None or ref == "":
            return None
        return self.groups.get(ref) if isinstance(ref, int) else self.groups.named(ref)

    def create_group(self, name: str) -> Group:
        group = self.groups.create(name)
        self._report(people=True)
        return group

    def rename_group(self, group_id: int, name: str) -> Group:
        group = self.groups.rename(group_id, name)
        self._report(people=True, sessions=True)
        return group

    def delete_group(self, group_id: int) -> None:
        self.groups.delete(group_id)
        self._report(people=True, sessions=True)

    def add_to_group(self, group_id: int, person_ids: list[int]) -> int:
        """Add people to a group (an open session of the group expects them from now on)."""
        added = self.groups.add_members(group_id, person_ids)
        self._report(people=True, marks=bool(added))
        return added

    def remove_from_group(self, group_id: int, person_ids: list[int]) -> int:
        removed = self.groups.remove_members(group_id, person_ids)
        self._report(people=True, marks=bool(removed))
        return removed

    def people_named(self, name: str, exclude: int | None = None) -> list[Person]:
        """Enrolled people with this name (but `exclude`): say so before saving a duplicate name."""
        return self.gallery.named(name, exclude)

    # ------------------------------------------------------------------ class lists and bulk enrolment

    def preview_roster(self, path: str | Path) -> RosterPreview:
        """What importing a class list would change, row by row; nothing is written."""
        return preview_roster(self.gallery, path)

    def import_roster(self, preview: RosterPreview) -> list[EnrolJob]:
        """Write the previewed people and groups (one transaction); returns the photos still to enrol
        (`enrol_jobs`)."""
        jobs = apply_roster(self.gallery, preview)
        self._report(people=True, marks=True)
        return jobs

    def plan_enrol_folder(self, root: str | Path) -> list[EnrolJob]:
        """One job per sub-folder (named by External ID or name) of `root`; nothing is written."""
        return plan_folder(self.gallery, root)

    def enrol_jobs(self, jobs: list[EnrolJob], *, group: str | None = None, progress: BulkProgress = None,
                   cancelled: Cancelled = None) -> BulkReport:
        """Check every photo and save each person's usable samples (core.gallery.bulk); with `group`, every
        person of the jobs joins it (created when new)."""
        groups = (group,) if group else ()
        for job in jobs:
            job.groups = tuple(dict.fromkeys((*job.groups, *groups)))
        try:
            report = run_jobs(self.enroller(), jobs, progress=progress, cancelled=cancelled)
            if groups:
                joined = [o.person_id for o in report.outcomes if o.person_id is not None]
                with self.db.transaction() as conn:
                    for pid in joined:
                        self.gallery.write_person(conn, pid, {"groups": groups}, replace_groups=False)
        finally:
            self._report(people=True, samples=True, marks=bool(groups))  # what was saved before a failure too
        return report

    # ------------------------------------------------------------------ sessions and registers

    def start_session(self, name: str, group: str | int | None = None, *, scheduled_start: str | None = None,
                      late_after_min: int | None = None) -> Session:
        """A new session; with a group (name or id), its members are expected."""
        found = self.group(group)
        session = self.attendance.start_session(name, found.id if found else None, scheduled_start=scheduled_start,
                                                late_after_min=late_after_min)
        self._report(sessions=True)
        return session

    def open_or_start(self, name: str, group: str | int | None = None) -> Session:
        """The open session called `name`, or a new one (of `group`)."""
        session = self.attendance.find_session(name)
        if session is not None and session.open:
            return session
        return self.start_session(name, group)

    def register(self, session_id: int) -> Register:
        """Who the session expected and each one's status, and the guests."""
        return build_register(self.attendance, session_id)

    def excuse(self, session_id: int, person_id: int, *, operator: str, reason: str) -> None:
        self.attendance.excuse(session_id, person_id, operator=operator, reason=reason)
        self._report(marks=True)

    def unexcuse(self, session_id: int, person_id: int, *, operator: str, reason: str) -> None:
        self.attendance.unexcuse(session_id, person_id, operator=operator, reason=reason)
        self._report(marks=True)

    def register_table(self, *, session_id: int | None = None, start: str | None = None,
                       end: str | None = None) -> Sheet:
        """The register of a session, or of every session started in a date range (`end` as a date
        includes that day), as a table for `write_sheet` (read here; may be written on a worker)."""
        if session_id is None and not (start or end):
            raise GalleryError("choose a session or a date range to export")
        registers = ([self.register(session_id)] if session_id is not None
                     else registers_between(self.attendance, start, end))
        if not registers:
            raise GalleryError(f"no session started between {start or 'the first'} and {end or 'today'}")
        return register_sheet(registers)

    def export_register(self, path: str | Path, *, session_id: int | None = None, start: str | None = None,
                        end: str | None = None, fmt: str | None = None) -> tuple[int, Path]:
        """`register_table` written to CSV or XLSX (core.register.sheets); (rows written, file)."""
        sheet = self.register_table(session_id=session_id, start=start, end=end)
        return len(sheet.rows), write_sheet(sheet, path, fmt)

    def group_report(self, group: str | int, start: str | None = None, end: str | None = None,
                     path: str | Path | None = None, fmt: str | None = None) -> GroupReport:
        """People × sessions of a group with P/L/A/E and each person's percentage; written when `path`."""
        found = self.group(group)
        if found is None:
            raise GalleryError("choose the group to report on")
        report = group_report(self.attendance, found.id, start, end)
        if path is not None:
            write_sheet(report.sheet(found.name), path, fmt)
        return report

    def person_history(self, person_id: int) -> list[HistoryLine]:
        return person_history(self.attendance, person_id)
