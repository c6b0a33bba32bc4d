"""The Attendance tab's Register pane: the register of the session selected in the list (who was
expected, each one's status and when they were first seen, the guests), excusing an absent person or
withdrawing an excuse with a reason (signed by the configured operator), and the group report.

Prompts (`ask_excuse`, `ask_unexcuse`, `ask_group_report`) are split from the actions they lead to
(`excuse`, `unexcuse`, `group_report_to`), which tests call directly."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QAbstractItemView, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableView, QVBoxLayout,
)

from core.attendance.marks import Session
from core.errors import RollcallError
from core.register.status import ABSENT, EXCUSED, RegisterLine
from desktop.context import AppContext
from desktop.pages.attendance.dialogs import ReasonDialog
from desktop.register.report_dialog import GroupReportDialog
from desktop.tables.register_table import PERSON_COL, REASON_COL, RegisterTableModel
from desktop.tasks import Task, TaskControl
from desktop.widgets.helpers import select_row


class RegisterPane(QGroupBox):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__("Register")
        self.ctx = ctx
        self.dialog: ReasonDialog | GroupReportDialog | None = None
        self.register_model = RegisterTableModel(ctx)
        self.register_summary = QLabel("Select a session to see its register.")
        self.register_summary.setWordWrap(True)
        self.register_view = QTableView()
        self.register_view.setModel(self.register_model)
        self.register_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.register_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.register_view.verticalHeader().hide()
        header = self.register_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(REASON_COL, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(PERSON_COL, QHeaderView.ResizeMode.Interactive)
        self.register_view.setColumnWidth(PERSON_COL, 180)
        self.register_view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.register_model.modelReset.connect(self._after_reset)
        self.excuse_button = QPushButton("E&xcuse…")
        self.excuse_button.setToolTip("Excuse the selected absent person from this session (asks why)")
        self.excuse_button.clicked.connect(self.ask_excuse)
        self.unexcuse_button = QPushButton("&Withdraw excuse…")
        self.unexcuse_button.setToolTip("Cancel the selected person's excuse: they count as absent again")
        self.unexcuse_button.clicked.connect(self.ask_unexcuse)
        self.report_button = QPushButton("&Group report…")
        self.report_button.setToolTip("A group's people × sessions with P/L/A/E and percentages, to XLSX or CSV")
        self.report_button.clicked.connect(self.ask_group_report)
        buttons = QHBoxLayout()
        buttons.addWidget(self.excuse_button)
        buttons.addWidget(self.unexcuse_button)
        buttons.addStretch(1)
        buttons.addWidget(self.report_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.register_summary)
        layout.addWidget(self.register_view, 1)
        layout.addLayout(buttons)
        self._after_reset()

    # ------------------------------------------------------------------ showing

    def show_session(self, session: Session | None) -> None:
        session_id = session.id if session is not None else None
        if session_id != self.register_model.session_id or self.register_model.register is None:
            self.register_model.set_session(session_id)  # else: it re-reads on the change signals itself

    def _after_reset(self) -> None:
        register = self.register_model.register
        self.register_summary.setText(f"{register.session.name}: {register.summary()}" if register is not None
                                      else "Select a session to see its register.")
        self._selection_changed()

    def selected_line(self) -> RegisterLine | None:
        rows = self.register_view.selectionModel().selectedRows()
        return self.register_model.line_at(rows[0].row()) if rows else None

    def select_person(self, person_id: int) -> bool:
        row = self.register_model.row_of(person_id)
        if row < 0:
            return False
        select_row(self.register_view, row)
        return True

    def _selection_changed(self, *_: object) -> None:
        line = self.selected_line()
        self.excuse_button.setEnabled(line is not None and line.status == ABSENT and line.person_id is not None)
        self.unexcuse_button.setEnabled(line is not None and line.status == EXCUSED and line.person_id is not None)

    # ------------------------------------------------------------------ excuses

    def ask_excuse(self) -> ReasonDialog | None:
        return self._ask("Excuse", "excuse {name} from '{session}'.", ABSENT, self.excuse)

    def ask_unexcuse(self) -> ReasonDialog | None:
        return self._ask("Withdraw excuse", "withdraw {name}'s excuse from '{session}'.", EXCUSED, self.unexcuse)

    def _ask(self, title: str, text: str, status: str, action) -> ReasonDialog | None:
        line, register = self.selected_line(), self.register_model.register
        if line is None or register is None or line.status != status or line.person_id is None:
            self.ctx.notifier.warning(title, f"Select a person who is {'absent' if status == ABSENT else 'excused'} "
                                             f"in the register first.")
            return None
        session_id, person_id = register.session.id, line.person_id
        prompt = text.format(name=line.name, session=register.session.name)
        dialog = ReasonDialog(self, title, prompt[0].upper() + prompt[1:])
        dialog.reason_edit.setPlaceholderText("required, e.g. 'ill, note from home'")
        dialog.accepted.connect(lambda: action(person_id, dialog.reason, session_id))
        self._open(dialog)
        return dialog

    def excuse(self, person_id: int, reason: str, session_id: int | None = None) -> bool:
        """Excuse an expected person (default: from the session shown), signed by the operator."""
        return self._excuse_change("Excuse", self.ctx.service.excuse, person_id, reason, session_id, "excused")

    def unexcuse(self, person_id: int, reason: str, session_id: int | None = None) -> bool:
        return self._excuse_change("Withdraw excuse", self.ctx.service.unexcuse, person_id, reason, session_id,
                                   "no longer excused")

    def _excuse_change(self, title: str, change, person_id: int, reason: str, session_id: int | None,
                       done: str) -> bool:
        session_id = session_id if session_id is not None else self.register_model.session_id
        if session_id is None:
            self.ctx.notifier.warning(title, "Select the session first (in the list of sessions).")
            return False
        if not reason.strip():
            self.ctx.notifier.warning(title, "Give a reason; nothing was changed.")
            return False
        operator = self.ctx.config.operator.strip()
        if not operator:
            self.ctx.notifier.warning(title, "Set the operator's name in Settings first; excuses are signed with it.")
            return False
        try:
            change(session_id, person_id, operator=operator, reason=reason.strip())
        except RollcallError as exc:
            self.ctx.notifier.exception(title, exc)
            return False
        name = next((line.name for line in self.register_model.lines if line.person_id == person_id), "")
        self.ctx.notifier.info(title, f"{name or 'the person'} {done}")
        return True

    # ------------------------------------------------------------------ group report

    def ask_group_report(self) -> GroupReportDialog | None:
        groups = self.ctx.service.groups.all()
        if not groups:
            self.ctx.notifier.warning("Group report", "There are no groups yet: make one in the People tab.")
            return None
        register = self.register_model.register
        dialog = GroupReportDialog(self, groups, register.session.group_id if register is not None else None)
        dialog.accepted.connect(lambda: self.group_report_to(dialog.group_id, dialog.start, dialog.end, dialog.path))
        self._open(dialog)
        return dialog

    def group_report_to(self, group: int | str, start: str | None, end: str | None, path: str | Path) -> Task:
        """Write the group's people × sessions (start and end days included) in the background."""
        service = self.ctx.service

        def work(control: TaskControl) -> tuple[int, int, Path]:
            control.progress(0, 0, "reading the group's sessions")
            with service.connect() as worker:
                report = worker.group_report(group, start, end, path)
            return len(report.people), len(report.sessions), Path(path)

        def done(result: tuple[int, int, Path]) -> None:
            people, sessions, written = result
            who = f"{people} {'person' if people == 1 else 'people'}"
            self.ctx.notifier.info("Group report", f"{who} × {sessions} session{'s' if sessions != 1 else ''} "
                                                   f"written to {written}")

        return self.ctx.tasks.run("Group report", work, on_done=done)

    def _open(self, dialog) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = dialog
        dialog.open()
