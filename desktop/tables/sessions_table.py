"""Attendance sessions as a table model: name, group, start, end (or "open") and how many were marked.

Rows are re-read from core (`Attendance.sessions()`) on `refresh()`, which runs
whenever `ctx.attendance_changed` fires; the model never edits rows by hand.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor

from core.attendance.marks import Session
from desktop.context import AppContext
from desktop.tables.records import RecordTableModel

COLUMNS = ("Session", "Group", "Started", "Ended", "Marked")
NAME_COL, GROUP_COL, STARTED_COL, ENDED_COL, MARKED_COL = range(len(COLUMNS))
OPEN_COLOUR = QColor("#1b7f3b")


def short_time(iso: str | None) -> str:
    """'2024-05-01T10:00:00+02:00' -> '2024-05-01 10:00:00' (local time as stored)."""
    return iso[:19].replace("T", " ") if iso else ""


class SessionsTableModel(RecordTableModel):
    columns = COLUMNS
    right_aligned = frozenset({MARKED_COL})

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.marked: dict[int, int] = {}
        self.refresh()
        ctx.attendance_changed.connect(self.refresh)

    def refresh(self) -> None:
        attendance = self.ctx.attendance
        self.marked = attendance.mark_counts()
        self.set_records(attendance.sessions())

    @property
    def sessions(self) -> list[Session]:
        return self.records

    def session_at(self, row: int) -> Session | None:
        return self.record_at(row)

    def display(self, session: Session, col: int) -> object:
        if col == NAME_COL:
            return session.name
        if col == GROUP_COL:
            return session.group_name
        if col == STARTED_COL:
            return short_time(session.started_at)
        if col == ENDED_COL:
            return "open" if session.open else short_time(session.ended_at)
        if col == MARKED_COL:
            return self.marked.get(session.id, 0)
        return None

    def role_data(self, session: Session, col: int, role: int) -> object:
        if role == Qt.ItemDataRole.ForegroundRole and col == ENDED_COL and session.open:
            return QBrush(OPEN_COLOUR)
        return None
