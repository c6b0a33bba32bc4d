"""A session's register as a table model: person, External ID, groups, status, first seen, confidence,
manual, operator and reason (of a manual mark or of an excuse).

Rows are re-read from core (`service.register(session_id)`) on `refresh()`, which runs whenever
`ctx.attendance_changed` or `ctx.gallery_changed` fires; the model never edits rows by hand.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush

from core.register.status import ABSENT, Register, RegisterLine
from desktop.context import AppContext
from desktop.register.register_panel import STATUS_COLOURS, read_register
from desktop.tables.records import RecordTableModel
from desktop.tables.sessions_table import short_time


COLUMNS = ("Person", "External ID", "Groups", "Status", "First seen", "Confidence", "Manual", "Operator", "Reason")
(PERSON_COL, EXTERNAL_ID_COL, GROUPS_COL, STATUS_COL, SEEN_COL, CONFIDENCE_COL, MANUAL_COL, OPERATOR_COL,
 REASON_COL) = range(len(COLUMNS))


class RegisterTableModel(RecordTableModel):
    columns = COLUMNS
    right_aligned = frozenset({CONFIDENCE_COL})

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.session_id: int | None = None
        self.register: Register | None = None
        ctx.attendance_changed.connect(self.refresh)
        ctx.gallery_changed.connect(self.refresh)

    def set_session(self, session_id: int | None) -> None:
        self.session_id = session_id
        self.refresh()

    def refresh(self) -> None:
        register = self.register = read_register(self.ctx, self.session_id)
        self.set_records(register.lines if register is not None else [])

    @property
    def lines(self) -> list[RegisterLine]:
        return self.records

    def line_at(self, row: int) -> RegisterLine | None:
        return self.record_at(row)

    def row_of(self, person_id: int) -> int:
        return next((row for row, line in enumerate(self.records) if line.person_id == person_id), -1)

    def display(self, line: RegisterLine, col: int) -> object:
        if col == PERSON_COL:
            return line.name
        if col == EXTERNAL_ID_COL:
            return line.external_id or ""
        if col == GROUPS_COL:
            return "; ".join(line.groups)
        if col == STATUS_COL:
            open_session = self.register is not None and self.register.session.open
            return "not yet" if line.status == ABSENT and open_session else line.status
        if col == SEEN_COL:
            return short_time(line.first_seen)
        if col == CONFIDENCE_COL:
            return "" if line.confidence is None else line.confidence
        if col == MANUAL_COL:
            return ("yes" if line.manual else "no") if line.first_seen else ""
        if col == OPERATOR_COL:
            return line.operator or ""
        if col == REASON_COL:
            return line.reason or ""
        return None

    def role_data(self, line: RegisterLine, col: int, role: int) -> object:
        if role == Qt.ItemDataRole.ForegroundRole and col == STATUS_COL and line.status in STATUS_COLOURS:
            return QBrush(STATUS_COLOURS[line.status])
        if role == Qt.ItemDataRole.ToolTipRole and col == REASON_COL and line.reason:
            return line.reason
        return None
