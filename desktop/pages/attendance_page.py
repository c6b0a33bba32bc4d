"""The Attendance tab: sessions (start / stop, with the summary of a session that ends), the selected
session's register (excuses, the group report) beside the marks table with filters, manual marks and
removals with a required reason, the evidence crop of the selected mark, and export to CSV or XLSX.
The panes are in `desktop.pages.attendance` and `desktop.register`; their widgets and actions are
attributes of the page too.

Every change goes through the application service (`ctx.service`), which writes
in transactions and keeps the audit trail; its report becomes `ctx.attendance_changed`
or `ctx.gallery_changed`, on which the tables re-read core. Prompts (the reason dialogs, the file dialog)
are split from the actions they lead to (`manual_mark`, `unmark`, `export_to`),
which tests call directly.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QSplitter, QTabWidget, QVBoxLayout, QWidget

from core.attendance.marks import Mark, Session
from core.register.sheets import write_sheet
from core.errors import RollcallError
from desktop.context import AppContext
from desktop.dialogs import save_file
from desktop.pages.attendance.dialogs import ReasonDialog
from desktop.pages.attendance.evidence import EvidenceBox
from desktop.pages.attendance.marks import MarksPane
from desktop.pages.attendance.sessions import SessionsPane
from desktop.register.register_pane import RegisterPane
from desktop.register.session_dialogs import SummaryDialog
from desktop.tables.marks_table import MarksTableModel
from desktop.tables.sessions_table import SessionsTableModel
from desktop.tasks import Task
from desktop.unknown_faces import UnknownFacesDialog
from desktop.widgets.helpers import expose

logger = logging.getLogger(__name__)

EXPORT_FILTER = "Excel workbook (*.xlsx);;CSV file (*.csv)"


class AttendancePage(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.sessions_model = SessionsTableModel(ctx)
        self.marks_model = MarksTableModel(ctx)
        self._dialog: ReasonDialog | None = None
        self.summary_dialog: SummaryDialog | None = None
        self.unknown_dialog: UnknownFacesDialog | None = None
        self.sessions_pane = SessionsPane(ctx, self.sessions_model)
        self.evidence_box = EvidenceBox(ctx)
        self.marks_pane = MarksPane(ctx, self.marks_model, self.sessions_model)
        self.register_pane = RegisterPane(ctx)
        expose(self, self.sessions_pane, "sessions_view", "start_button", "stop_button", "ask_start_session",
               "start_session", "stop_selected", "selected_session", "select_session")
        expose(self, self.register_pane, "register_model", "register_view", "register_summary", "excuse_button",
               "unexcuse_button", "report_button", "selected_line", "select_person", "ask_excuse", "ask_unexcuse",
               "excuse", "unexcuse", "ask_group_report", "group_report_to")
        expose(self, self.marks_pane, "session_filter", "person_filter", "kind_filter", "from_check", "from_date",
               "to_check", "to_date", "marks_view", "count_label", "manual_button", "unmark_button", "export_button",
               "set_filters", "apply_filters", "filter_session_id", "selected_mark", "select_mark")
        expose(self, self.evidence_box, "evidence_label", "evidence_caption", "show_evidence")
        self.sessions_pane.session_selected.connect(self.marks_pane.show_session)
        self.sessions_pane.session_selected.connect(self.register_pane.show_session)
        self.sessions_pane.session_stopped.connect(self.show_summary)
        self.marks_pane.mark_selected.connect(self.show_evidence)
        self.manual_button.clicked.connect(self.ask_manual_mark)
        self.unmark_button.clicked.connect(self.ask_unmark)
        self.export_button.clicked.connect(self._export_clicked)

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.sessions_pane)
        left.addWidget(self.evidence_box)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        self.right_tabs = QTabWidget()
        self.register_pane.setTitle("")  # the tabs name them
        self.marks_pane.setTitle("")
        self.right_tabs.addTab(self.register_pane, "&Register")
        self.right_tabs.addTab(self.marks_pane, "Mar&ks")
        self.unknown_button = QPushButton("&Unknown faces…")
        self.unknown_button.setToolTip("Review the kept faces nobody matched: enrol or delete them")
        self.unknown_button.clicked.connect(self.show_unknown_faces)
        self.right_tabs.setCornerWidget(self.unknown_button)
        splitter.addWidget(self.right_tabs)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        ctx.attendance_changed.connect(self._after_attendance_change)
        ctx.gallery_changed.connect(self.marks_pane.fill_people)
        self.marks_pane.fill_sessions()
        self.marks_pane.fill_people()
        self.marks_pane.selection_changed()

    def _after_attendance_change(self) -> None:
        self.marks_pane.fill_sessions()
        self.apply_filters()

    def show_summary(self, session: Session) -> SummaryDialog | None:
        """The register of a session that just ended, with its export (opened, not blocking)."""
        try:
            register = self.ctx.service.register(session.id)
        except RollcallError as exc:
            self.ctx.notifier.exception("Session", exc)
            return None
        if self.summary_dialog is not None:
            self.summary_dialog.deleteLater()
        self.summary_dialog = SummaryDialog(self, self.ctx, register)
        self.summary_dialog.open()
        return self.summary_dialog

    def show_unknown_faces(self) -> UnknownFacesDialog:
        """The review of the kept unknown faces (opened, not blocking; one at a time)."""
        if self.unknown_dialog is None:
            self.unknown_dialog = UnknownFacesDialog(self, self.ctx)
        self.unknown_dialog.refresh()
        self.unknown_dialog.open()
        self.unknown_dialog.raise_()
        return self.unknown_dialog

    # ------------------------------------------------------------------ manual mark / unmark

    def ask_manual_mark(self) -> ReasonDialog | None:
        """Open (without blocking) the dialog that asks whom to mark and why."""
        session_id = self.filter_session_id()
        if session_id is None:
            self.ctx.notifier.warning("Manual mark", "Choose the session first (select it in the list).")
            return None
        marked = {m.person_id for m in self.ctx.service.attendance.marks(session_id)}
        people = [(p.name, p.id) for p in self.ctx.service.gallery.people() if p.id not in marked]
        if not people:
            self.ctx.notifier.warning("Manual mark", "Everyone enrolled is already marked in this session.")
            return None
        session = self.ctx.service.attendance.session(session_id)
        dialog = ReasonDialog(self, "Mark manually", f"Mark a person present in '{session.name}'.", people)
        dialog.accepted.connect(lambda: self.manual_mark(dialog.person_id, dialog.reason, session_id))
        self._open(dialog)
        return dialog

    def manual_mark(self, person_id: int, reason: str, session_id: int | None = None) -> Mark | None:
        """Mark a person present by hand in the session (default: the one filtered on), signed by the
        configured operator. Refused, with a notice, without a reason."""
        title = "Manual mark"
        session_id = session_id if session_id is not None else self.filter_session_id()
        if session_id is None:
            self.ctx.notifier.warning(title, "Choose the session first (select it in the list).")
            return None
        if not reason.strip():
            self.ctx.notifier.warning(title, "A manual mark needs a reason; nothing was marked.")
            return None
        operator = self.ctx.config.operator.strip()
        if not operator:
            self.ctx.notifier.warning(title, "Set the operator's name in Settings first; manual marks are signed with it.")
            return None
        try:
            mark = self.ctx.service.manual_mark(session_id, person_id, operator=operator, reason=reason.strip())
        except RollcallError as exc:
            self.ctx.notifier.exception(title, exc)
            return None
        self.ctx.notifier.info(title, f"{mark.person_name} marked present")
        return mark

    def ask_unmark(self) -> ReasonDialog | None:
        """Open (without blocking) the dialog that asks why the selected mark is removed."""
        mark = self.selected_mark()
        if mark is None or mark.person_id is None:
            self.ctx.notifier.warning("Remove mark", "Select a mark of an enrolled person first.")
            return None
        dialog = ReasonDialog(self, "Remove mark", f"Remove {mark.person_name}'s mark from '{mark.session_name}'.")
        dialog.accepted.connect(lambda: self.unmark(mark, dialog.reason))
        self._open(dialog)
        return dialog

    def unmark(self, mark: Mark, reason: str) -> bool:
        """Remove a mark through core (audited with the operator and reason)."""
        title = "Remove mark"
        if not reason.strip():
            self.ctx.notifier.warning(title, "Removing a mark needs a reason; the mark was kept.")
            return False
        operator = self.ctx.config.operator.strip()
        if not operator:
            self.ctx.notifier.warning(title, "Set the operator's name in Settings first; removals are signed with it.")
            return False
        if mark.person_id is None:
            self.ctx.notifier.warning(title, f"{mark.person_name} is no longer enrolled; the mark cannot be removed here.")
            return False
        try:
            self.ctx.service.unmark(mark.session_id, mark.person_id, operator=operator, reason=reason.strip())
        except RollcallError as exc:
            self.ctx.notifier.exception(title, exc)
            return False
        self.ctx.notifier.info(title, f"{mark.person_name}'s mark removed")
        return True

    def _open(self, dialog: ReasonDialog) -> None:
        if self._dialog is not None:
            self._dialog.deleteLater()
        self._dialog = dialog
        dialog.open()

    # ------------------------------------------------------------------ export

    def _export_clicked(self) -> None:
        path, chosen = save_file(self, "Export attendance", "attendance.xlsx", EXPORT_FILTER)
        if path:
            if not Path(path).suffix:
                path += ".csv" if "csv" in chosen.lower() else ".xlsx"
            self.export_to(path)

    def export_to(self, path: str | Path) -> Task | None:
        """Write the register of the session the filter shows (else of the sessions in the date filter's
        range) to CSV or XLSX, by the file's suffix: read here, written in the background."""
        pane = self.marks_pane
        start = pane.from_date.date().toString("yyyy-MM-dd") if pane.from_check.isChecked() else None
        end = pane.to_date.date().toString("yyyy-MM-dd") if pane.to_check.isChecked() else None
        try:
            sheet = self.ctx.service.register_table(session_id=pane.session_filter.currentData(), start=start, end=end)
        except RollcallError as exc:
            self.ctx.notifier.exception("Export", exc)
            return None

        def done(written: Path) -> None:
            self.ctx.notifier.info("Export", f"{len(sheet.rows)} row{'s' if len(sheet.rows) != 1 else ''} "
                                             f"written to {written}")

        return self.ctx.tasks.run("Export", lambda control: write_sheet(sheet, path), on_done=done)
