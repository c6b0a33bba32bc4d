"""The dialogs around a session's life: starting one (name, group, scheduled start, late after N minutes)
and the summary shown when one ends (who was present, late, absent, excused, the guests) with the
register's export. Both are opened with `open()` (never `exec()`), so nothing blocks the event loop."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from PySide6.QtCore import QDateTime, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox, QDateTimeEdit, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QPushButton, QSpinBox,
    QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget,
)

from core.attendance.marks import Session
from core.errors import RollcallError
from core.gallery.groups import Group
from core.register.status import ABSENT, EXCUSED, GUEST, LATE, PRESENT, Register, RegisterLine
from desktop.context import AppContext
from desktop.dialogs import save_file
from desktop.tasks import Task

DEFAULT_LATE_AFTER_MIN = 10
MAX_LATE_AFTER_MIN = 24 * 60
EXPORT_FILTER = "Excel workbook (*.xlsx);;CSV file (*.csv)"
SUMMARY_SECTIONS = ((PRESENT, "Present"), (LATE, "Late"), (ABSENT, "Absent"), (EXCUSED, "Excused"), (GUEST, "Guests"))


def default_session_name(now: _dt.datetime | None = None) -> str:
    return (now or _dt.datetime.now()).strftime("Session %Y-%m-%d %H:%M")


def clock(iso: str | None) -> str:
    """'2026-12-07T09:03:12+01:00' -> '09:03' (the local time as stored), '' for none."""
    return iso[11:16] if iso and len(iso) >= 16 else ""


class StartSessionDialog(QDialog):
    """Asks for a new session's name, group, scheduled start and lateness; Enter starts it."""

    def __init__(self, parent: QWidget | None, groups: list[Group], name: str = "",
                 late_after_min: int = DEFAULT_LATE_AFTER_MIN) -> None:
        super().__init__(parent)
        self.setWindowTitle("Start session")
        form = QFormLayout(self)
        self.name_edit = QLineEdit(name.strip() or default_session_name())
        self.name_edit.setToolTip("A name for the session, e.g. the class and period")
        self.name_edit.selectAll()
        self.group_combo = QComboBox()
        self.group_combo.setToolTip("Who is expected: the group's members are absent until marked")
        self.group_combo.addItem("No group (anyone recognised is present)", None)
        for group in groups:
            self.group_combo.addItem(f"{group.name} ({group.n_members} "
                                     f"{'person' if group.n_members == 1 else 'people'})", group.id)
        self.start_edit = QDateTimeEdit(QDateTime.currentDateTime())
        self.start_edit.setToolTip("When the session is due to start; later arrivals count as late")
        self.start_edit.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.start_edit.setCalendarPopup(True)
        self.late_spin = QSpinBox()
        self.late_spin.setRange(0, MAX_LATE_AFTER_MIN)
        self.late_spin.setValue(late_after_min)
        self.late_spin.setSuffix(" min")
        self.late_spin.setSpecialValueText("never late")
        self.late_spin.setToolTip("Marked later than this after the scheduled start: late. 0: nobody is late.")
        for label, widget in (("&Name", self.name_edit), ("&Group", self.group_combo),
                              ("Scheduled &start", self.start_edit), ("&Late after", self.late_spin)):
            text = QLabel(label)
            text.setBuddy(widget)
            form.addRow(text, widget)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("&Start")
        self.ok_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.name_edit.textChanged.connect(lambda text: self.ok_button.setEnabled(bool(text.strip())))
        form.addRow(buttons)
        self.setMinimumWidth(420)

    def set_group(self, group_id: int | None) -> None:
        self.group_combo.setCurrentIndex(max(0, self.group_combo.findData(group_id)))

    @property
    def name(self) -> str:
        return self.name_edit.text().strip()

    @property
    def group_id(self) -> int | None:
        return self.group_combo.currentData()

    @property
    def scheduled_start(self) -> str:
        """The scheduled start as ISO local time with its UTC offset (what core stores)."""
        moment = self.start_edit.dateTime().toPython().replace(second=0, microsecond=0)
        return moment.astimezone().isoformat(timespec="seconds")

    @property
    def late_after_min(self) -> int | None:
        """None when 0 was chosen: nobody is late."""
        return self.late_spin.value() or None


def start_chosen(ctx: AppContext, dialog: StartSessionDialog) -> Session | None:
    """Start the session the dialog describes through the service; a refusal reaches the notifier."""
    try:
        return ctx.service.start_session(dialog.name, dialog.group_id, scheduled_start=dialog.scheduled_start,
                                         late_after_min=dialog.late_after_min)
    except RollcallError as exc:
        ctx.notifier.exception("Starting a session", exc)
        return None


def ask_start_session(ctx: AppContext, parent: QWidget, on_started, name: str = "") -> StartSessionDialog:
    """Open (without blocking) the start dialog; `on_started(session)` once the service started it."""
    dialog = StartSessionDialog(parent, ctx.service.groups.all(), name)

    def accepted() -> None:
        session = start_chosen(ctx, dialog)
        if session is not None:
            on_started(session)

    dialog.accepted.connect(accepted)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog


def line_detail(line: RegisterLine) -> str:
    """What the summary says beside a name: the time seen, or the excuse's reason."""
    if line.status == EXCUSED:
        return line.reason or ""
    seen = clock(line.first_seen)
    return f"{seen}, marked by hand" if seen and line.manual else seen


class SummaryDialog(QDialog):
    """The register of a session that just ended, grouped by status, with its export."""

    def __init__(self, parent: QWidget | None, ctx: AppContext, register: Register) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.register = register
        self.export_task: Task | None = None
        self.setWindowTitle(f"Session ended: {register.session.name}")
        layout = QVBoxLayout(self)
        group = f" · group {register.session.group_name}" if register.session.group_name else ""
        title = QLabel(f"{register.session.name}{group}")
        font = QFont(title.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.3)
        title.setFont(font)
        self.summary_label = QLabel(register.summary())
        self.summary_label.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(("Name", "Time / reason"))
        self.tree.setColumnWidth(0, 260)
        for status, heading in SUMMARY_SECTIONS:
            lines = register.with_status(status)
            if not lines:
                continue
            top = QTreeWidgetItem(self.tree, [f"{heading} ({len(lines)})", ""])
            top.setData(0, Qt.ItemDataRole.UserRole, status)
            for line in lines:
                QTreeWidgetItem(top, [line.name, line_detail(line)])
            top.setExpanded(True)
        buttons = QDialogButtonBox()
        self.export_button = QPushButton("&Export register…")
        self.export_button.setToolTip("Save this register to an Excel or CSV file")
        self.export_button.setAutoDefault(False)
        buttons.addButton(self.export_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.close_button.setDefault(True)
        buttons.rejected.connect(self.reject)
        self.export_button.clicked.connect(self._export_clicked)
        layout.addWidget(title)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)
        self.resize(560, 520)  # fits 1366x768 with room for the taskbar

    def names(self, status: str) -> list[str]:
        """The names listed under a status (for tests and the screenshot script)."""
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            if top.data(0, Qt.ItemDataRole.UserRole) == status:
                return [top.child(j).text(0) for j in range(top.childCount())]
        return []

    def _export_clicked(self) -> None:
        suggested = f"{self.register.session.name}.xlsx".replace("/", "-")
        path, chosen = save_file(self, "Export register", suggested, EXPORT_FILTER)
        if path:
            if not Path(path).suffix:
                path += ".csv" if "csv" in chosen.lower() else ".xlsx"
            self.export_to(path)

    def export_to(self, path: str | Path) -> Task:
        """Write the session's register (CSV or XLSX by the suffix) in the background."""
        return export_register(self.ctx, self.register.session.id, path)


def export_register(ctx: AppContext, session_id: int, path: str | Path) -> Task:
    """`service.export_register` on a worker (its own connection); the outcome reaches the notifier."""
    service = ctx.service

    def work(control) -> tuple[int, Path]:
        control.progress(0, 0, "writing the register")
        with service.connect() as worker:
            return worker.export_register(path, session_id=session_id)

    def done(result: tuple[int, Path]) -> None:
        rows, written = result
        ctx.notifier.info("Export", f"{rows} row{'s' if rows != 1 else ''} written to {written}")

    return ctx.tasks.run("Export", work, on_done=done)
