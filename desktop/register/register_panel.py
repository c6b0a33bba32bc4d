"""The Live tab's register: "present N / M" for the session being watched and the people it expects,
each ticked off with the time seen (late ones marked late), "not yet" for those still missing, the
excused, and the guests. It re-reads core's register (two SQL queries) only when the context says the
attendance or the people changed, never per frame; `arrived` names who came since the last read (the
kiosk's welcome)."""

from __future__ import annotations

import logging

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QLabel, QListView, QVBoxLayout, QWidget

from core.errors import RollcallError
from core.register.status import ABSENT, EXCUSED, GUEST, LATE, PRESENT, Register, RegisterLine
from desktop.context import AppContext
from desktop.register.session_dialogs import clock

logger = logging.getLogger(__name__)

STATUS_COLOURS = {PRESENT: QColor("#1b7f3b"), LATE: QColor("#a15c00"), ABSENT: QColor("#777777"),
                  EXCUSED: QColor("#1f5fa8"), GUEST: QColor("#5b3a8c")}


def line_key(line: RegisterLine) -> tuple[int | None, str]:
    return line.person_id, line.name


def line_text(line: RegisterLine, session_open: bool) -> str:
    """One row of the panel: "✓ Ada Lovelace · 09:03", "✓ Bo · 09:14 late", "Cy · not yet"."""
    seen = clock(line.first_seen)
    if line.status == PRESENT:
        return f"✓ {line.name} · {seen}"
    if line.status == LATE:
        return f"✓ {line.name} · {seen} late"
    if line.status == GUEST:
        return f"+ {line.name} · {seen} guest"
    if line.status == EXCUSED:
        return f"{line.name} · excused" + (f" ({line.reason})" if line.reason else "")
    return f"{line.name} · {'not yet' if session_open else 'absent'}"


def count_text(register: Register | None) -> str:
    """The headline: "present 17 / 24", "3 marked" (a session without a group), or why nothing is counted."""
    if register is None:
        return "No session"
    if not register.has_list:
        return f"{len(register.lines)} marked"
    return f"present {register.arrived} / {register.expected}"


def read_register(ctx: AppContext, session_id: int | None) -> Register | None:
    """The session's register, or None (no session, or it is gone: another data folder, a restored backup)."""
    if session_id is None:
        return None
    try:
        return ctx.service.register(session_id)
    except RollcallError as exc:
        logger.info("no register for session %s: %s", session_id, exc)
        return None


class RegisterListModel(QAbstractListModel):
    """The lines of one register, read-only; replaced wholesale on each read."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[RegisterLine] = []
        self.session_open = True

    def set_register(self, register: Register | None) -> None:
        self.beginResetModel()
        self.lines = list(register.lines) if register is not None else []
        self.session_open = register.session.open if register is not None else True
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.lines)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.lines):
            return None
        line = self.lines[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return line_text(line, self.session_open)
        if role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(STATUS_COLOURS.get(line.status, QColor("#000000")))
        if role == Qt.ItemDataRole.ToolTipRole:
            who = f" by {line.operator}" if line.operator else ""
            return f"{line.status}{who}: {line.reason}" if line.reason else None
        if role == Qt.ItemDataRole.UserRole:
            return line
        return None


class RegisterPanel(QWidget):
    changed = Signal(object)  # the Register just read, or None (no session)
    arrived = Signal(list)  # [RegisterLine]: people marked since the previous read of the same session

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.session_id: int | None = None
        self.register: Register | None = None
        self._attended: set[tuple[int | None, str]] | None = None  # None: nothing read for this session yet
        self.count_label = QLabel()
        font = QFont(self.count_label.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.6)
        self.count_label.setFont(font)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.model = RegisterListModel()
        self.list_view = QListView()
        self.list_view.setModel(self.model)
        self.list_view.setUniformItemSizes(True)
        self.list_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.count_label)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.list_view, 1)
        ctx.attendance_changed.connect(self.refresh)
        ctx.gallery_changed.connect(self.refresh)  # renamed people, changed group members
        self.refresh()

    def set_session(self, session_id: int | None) -> None:
        if session_id == self.session_id and self.register is not None:
            return
        self.session_id = session_id
        self._attended = None
        self.refresh()

    def refresh(self) -> None:
        register = self.register = read_register(self.ctx, self.session_id)
        attended = {line_key(line) for line in register.lines if line.attended} if register is not None else set()
        new = []
        if register is not None and self._attended is not None:
            new = sorted((line for line in register.lines if line.attended and line_key(line) not in self._attended),
                         key=lambda line: line.first_seen or "")
        self._attended = attended if register is not None else None
        self.model.set_register(register)
        self.count_label.setText(count_text(register))
        self.summary_label.setText(register.summary() if register is not None
                                   else "Choose or start a session to see who is here.")
        self.changed.emit(register)
        if new:
            self.arrived.emit(new)

    def shown(self) -> list[str]:
        """The rows as displayed (for tests and the screenshot script)."""
        return [self.model.data(self.model.index(row)) for row in range(self.model.rowCount())]
