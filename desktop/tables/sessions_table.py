"""Attendance sessions as a table model: name, group, start, end (or "open") and how many were marked.

Rows are re-read from core (`Attendance.sessions()`) on `refresh()`, which runs
whenever `ctx.attendance_changed` fires; the model never edits rows by hand.
"""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from core.attendance import Session
from desktop.context import AppContext

COLUMNS = ("Session", "Group", "Started", "Ended", "Marked")
NAME_COL, GROUP_COL, STARTED_COL, ENDED_COL, MARKED_COL = range(len(COLUMNS))
OPEN_COLOUR = QColor("#1b7f3b")


def short_time(iso: str | None) -> str:
    """'2024-05-01T10:00:00+02:00' -> '2024-05-01 10:00:00' (local time as stored)."""
    return iso[:19].replace("T", " ") if iso else ""


class SessionsTableModel(QAbstractTableModel):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.sessions: list[Session] = []
        self.marked: Counter[int] = Counter()
        self.refresh()
        ctx.attendance_changed.connect(self.refresh)

    def refresh(self) -> None:
        self.beginResetModel()
        attendance = self.ctx.attendance
        self.sessions = attendance.sessions()
        self.marked = Counter(m.session_id for m in attendance.marks())
        self.endResetModel()

    def session_at(self, row: int) -> Session | None:
        return self.sessions[row] if 0 <= row < len(self.sessions) else None

    def row_of(self, session_id: int) -> int:
        return next((row for row, s in enumerate(self.sessions) if s.id == session_id), -1)

    # ------------------------------------------------------------------ Qt model

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.sessions)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.sessions):
            return None
        session, col = self.sessions[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
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
        if role == Qt.ItemDataRole.ForegroundRole and col == ENDED_COL and session.open:
            return QBrush(OPEN_COLOUR)
        if role == Qt.ItemDataRole.TextAlignmentRole and col == MARKED_COL:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
