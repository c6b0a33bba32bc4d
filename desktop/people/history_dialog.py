"""One person's attendance history: every session that expected or marked them, newest first, with
their status there and when they were first seen (`service.person_history`). Follows new marks."""

from __future__ import annotations

from collections import Counter

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from core.errors import RollcallError
from core.gallery.store import Person
from core.register.reports import HistoryLine
from core.register.status import STATUSES
from desktop.context import AppContext
from desktop.people.common import fit_size, read_only_table, set_row
from desktop.widgets.helpers import ERROR_STYLE

COLUMNS = ("Session", "Group", "Date", "Status", "Time")


def history_summary(lines: list[HistoryLine]) -> str:
    if not lines:
        return "No session has expected or marked this person yet."
    counts = Counter(line.status for line in lines)
    parts = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
    return f"{len(lines)} session(s): {parts}"


class HistoryDialog(QDialog):
    def __init__(self, ctx: AppContext, person: Person, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.person = person
        self.lines: list[HistoryLine] = []
        self.setWindowTitle(f"History of {person.name}")
        heading = QLabel(f"<b>{person.name}</b>" + (f" (External ID {person.external_id})" if person.external_id else ""))
        self.table = read_only_table(COLUMNS, stretch=0)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Close).setDefault(True)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary_label)
        layout.addWidget(buttons)
        fit_size(self, 620, 480)
        ctx.attendance_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        try:
            self.lines = self.ctx.service.person_history(self.person.id)
        except RollcallError as exc:
            self.summary_label.setText(str(exc))
            self.summary_label.setStyleSheet(ERROR_STYLE)
            return
        self.table.setRowCount(len(self.lines))
        for row, line in enumerate(self.lines):
            session = line.session
            time = line.first_seen[11:16] if line.first_seen else ""
            set_row(self.table, row, [session.name + (" (open)" if session.open else ""), session.group_name or "—",
                                      session.started_at[:10], line.status, time])
        self.summary_label.setStyleSheet("")
        self.summary_label.setText(history_summary(self.lines))
