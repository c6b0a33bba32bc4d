"""Attendance marks as a table model, filtered by session, date range, person and kind.

Rows are re-read from core (`Attendance.marks(...)`) with the current filters
on `refresh()`, which runs when `ctx.attendance_changed` (new or removed marks)
or `ctx.gallery_changed` (a renamed person) fires.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt

from core.attendance.marks import Mark
from desktop.context import AppContext
from desktop.tables.records import RecordTableModel
from desktop.tables.sessions_table import short_time

COLUMNS = ("Time", "Session", "Person", "Confidence", "Kind", "Operator", "Reason", "Source")
TIME_COL, SESSION_COL, PERSON_COL, CONFIDENCE_COL, KIND_COL, OPERATOR_COL, REASON_COL, SOURCE_COL = range(len(COLUMNS))
CONFIDENCE_TIP = "How sure the match was, 0-100: 50 is the bar a face must reach to be marked."


def confidence_text(mark: Mark) -> str:
    """A mark's confidence as the operator reads it: "78", "manual", or "" for marks made before
    confidences were kept. Never the raw cosine."""
    if mark.manual:
        return "manual"
    return str(mark.confidence) if mark.confidence is not None else ""


@dataclass(frozen=True)
class MarkFilters:
    """What `Attendance.marks` is asked for; None means "any". `start` and `end` are ISO strings
    (a date such as '2024-05-01' works), `end` exclusive."""

    session_id: int | None = None
    start: str | None = None
    end: str | None = None
    person_id: int | None = None
    manual: bool | None = None


class MarksTableModel(RecordTableModel):
    columns = COLUMNS
    right_aligned = frozenset({CONFIDENCE_COL})

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.filters = MarkFilters()
        self.refresh()
        ctx.attendance_changed.connect(self.refresh)
        ctx.gallery_changed.connect(self.refresh)

    def set_filters(self, session_id: int | None = None, start: str | None = None, end: str | None = None,
                    person_id: int | None = None, manual: bool | None = None) -> None:
        self.filters = MarkFilters(session_id, start or None, end or None, person_id, manual)
        self.refresh()

    def refresh(self) -> None:
        f = self.filters
        self.set_records(self.ctx.service.attendance.marks(f.session_id, start=f.start, end=f.end,
                                                   person_id=f.person_id, manual=f.manual))

    @property
    def marks(self) -> list[Mark]:
        return self.records

    def mark_at(self, row: int) -> Mark | None:
        return self.record_at(row)

    def display(self, mark: Mark, col: int) -> object:
        if col == TIME_COL:
            return short_time(mark.marked_at)
        if col == SESSION_COL:
            return mark.session_name
        if col == PERSON_COL:
            return mark.person_name
        if col == CONFIDENCE_COL:
            return confidence_text(mark)
        if col == KIND_COL:
            return "manual" if mark.manual else "automatic"
        if col == OPERATOR_COL:
            return mark.operator or ""
        if col == REASON_COL:
            return mark.reason or ""
        if col == SOURCE_COL:
            return mark.source or ""
        return None

    def role_data(self, mark: Mark, col: int, role: int) -> object:
        if role == Qt.ItemDataRole.ToolTipRole and col == REASON_COL and mark.reason:
            return mark.reason
        if role == Qt.ItemDataRole.ToolTipRole and col == CONFIDENCE_COL and not mark.manual:
            return CONFIDENCE_TIP
        return None
