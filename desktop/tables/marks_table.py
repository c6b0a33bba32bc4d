"""Attendance marks as a table model, filtered by session, date range, person and kind.

Rows are re-read from core (`Attendance.marks(...)`) with the current filters
on `refresh()`, which runs when `ctx.attendance_changed` (new or removed marks)
or `ctx.gallery_changed` (a renamed person) fires.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

from core.attendance import Mark
from desktop.context import AppContext
from desktop.tables.sessions_table import short_time

COLUMNS = ("Time", "Session", "Person", "Score", "Kind", "Operator", "Reason", "Source")
TIME_COL, SESSION_COL, PERSON_COL, SCORE_COL, KIND_COL, OPERATOR_COL, REASON_COL, SOURCE_COL = range(len(COLUMNS))


@dataclass(frozen=True)
class MarkFilters:
    """What `Attendance.marks` is asked for; None means "any". `start` and `end` are ISO strings
    (a date such as '2024-05-01' works), `end` exclusive."""

    session_id: int | None = None
    start: str | None = None
    end: str | None = None
    person_id: int | None = None
    manual: bool | None = None


class MarksTableModel(QAbstractTableModel):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.filters = MarkFilters()
        self.marks: list[Mark] = []
        self.refresh()
        ctx.attendance_changed.connect(self.refresh)
        ctx.gallery_changed.connect(self.refresh)

    def set_filters(self, session_id: int | None = None, start: str | None = None, end: str | None = None,
                    person_id: int | None = None, manual: bool | None = None) -> None:
        self.filters = MarkFilters(session_id, start or None, end or None, person_id, manual)
        self.refresh()

    def refresh(self) -> None:
        f = self.filters
        self.beginResetModel()
        self.marks = self.ctx.attendance.marks(f.session_id, start=f.start, end=f.end,
                                               person_id=f.person_id, manual=f.manual)
        self.endResetModel()

    def mark_at(self, row: int) -> Mark | None:
        return self.marks[row] if 0 <= row < len(self.marks) else None

    def row_of(self, mark_id: int) -> int:
        return next((row for row, m in enumerate(self.marks) if m.id == mark_id), -1)

    # ------------------------------------------------------------------ Qt model

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.marks)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.marks):
            return None
        mark, col = self.marks[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == TIME_COL:
                return short_time(mark.marked_at)
            if col == SESSION_COL:
                return mark.session_name
            if col == PERSON_COL:
                return mark.person_name
            if col == SCORE_COL:
                return f"{mark.score:.3f}" if mark.score is not None else ""
            if col == KIND_COL:
                return "manual" if mark.manual else "automatic"
            if col == OPERATOR_COL:
                return mark.operator or ""
            if col == REASON_COL:
                return mark.reason or ""
            if col == SOURCE_COL:
                return mark.source or ""
            return None
        if role == Qt.ItemDataRole.ToolTipRole and col == REASON_COL and mark.reason:
            return mark.reason
        if role == Qt.ItemDataRole.TextAlignmentRole and col == SCORE_COL:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
