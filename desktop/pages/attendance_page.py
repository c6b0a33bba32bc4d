"""The Attendance tab: sessions (start / stop), the marks table with filters, manual marks and
removals with a required reason, the evidence crop of the selected mark, and export to CSV or XLSX.

Every change goes through core (`ctx.attendance`), which writes in transactions
and keeps the audit trail; the tables re-read core when `ctx.attendance_changed`
or `ctx.gallery_changed` fires. Prompts (the reason dialogs, the file dialog)
are split from the actions they lead to (`manual_mark`, `unmark`, `export_to`),
which tests call directly.
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path

from PySide6.QtCore import QDate, QItemSelectionModel, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.attendance.marks import Mark, Session, export_marks
from core.errors import RollcallError
from desktop.context import AppContext
from desktop.tasks import Task
from desktop.images import jpeg_to_qimage, thumbnail
from desktop.tables.marks_table import MarksTableModel
from desktop.tables.sessions_table import SessionsTableModel

logger = logging.getLogger(__name__)

EVIDENCE_SIZE = 160
KINDS = (("All kinds", None), ("Automatic", False), ("Manual", True))
EXPORT_FILTER = "Excel workbook (*.xlsx);;CSV file (*.csv)"


class ReasonDialog(QDialog):
    """Asks for a reason (and, for a manual mark, the person); never blocks: open() it."""

    def __init__(self, parent: QWidget, title: str, text: str, people: list[tuple[str, int]] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        form = QFormLayout(self)
        form.addRow(QLabel(text))
        self.person_combo: QComboBox | None = None
        if people is not None:
            self.person_combo = QComboBox()
            for name, person_id in people:
                self.person_combo.addItem(name, person_id)
            form.addRow("Person", self.person_combo)
        self.reason_edit = QLineEdit()
        self.reason_edit.setPlaceholderText("required, e.g. 'arrived late, camera missed her'")
        form.addRow("Reason", self.reason_edit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setEnabled(False)
        self.reason_edit.textChanged.connect(lambda text: self.ok_button.setEnabled(bool(text.strip())))
        form.addRow(buttons)

    @property
    def reason(self) -> str:
        return self.reason_edit.text().strip()

    @property
    def person_id(self) -> int | None:
        return self.person_combo.currentData() if self.person_combo is not None else None


class AttendancePage(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.sessions_model = SessionsTableModel(ctx)
        self.marks_model = MarksTableModel(ctx)
        self._dialog: ReasonDialog | None = None

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self._build_sessions())
        left.addWidget(self._build_evidence())
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self._build_marks())
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        ctx.attendance_changed.connect(self._after_attendance_change)
        ctx.gallery_changed.connect(self._fill_people)
        self.marks_model.modelReset.connect(self._selection_changed)
        self._fill_session_filter()
        self._fill_people()
        self._selection_changed()

    # ------------------------------------------------------------------ layout

    def _build_sessions(self) -> QWidget:
        box = QGroupBox("Sessions")
        layout = QVBoxLayout(box)
        self.sessions_view = QTableView()
        self.sessions_view.setModel(self.sessions_model)
        self.sessions_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.sessions_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.sessions_view.verticalHeader().hide()
        self.sessions_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.sessions_view.selectionModel().selectionChanged.connect(self._session_selected)
        self.sessions_model.modelReset.connect(self._session_selected)
        layout.addWidget(self.sessions_view, 1)

        form = QFormLayout()
        self.session_name_edit = QLineEdit()
        self.session_name_edit.setPlaceholderText("e.g. Maths 2B, Monday")
        self.session_group_edit = QLineEdit()
        self.session_group_edit.setPlaceholderText("optional")
        form.addRow("Name", self.session_name_edit)
        form.addRow("Group", self.session_group_edit)
        layout.addLayout(form)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start session")
        self.start_button.clicked.connect(self._start_clicked)
        self.stop_button = QPushButton("Stop selected")
        self.stop_button.clicked.connect(self.stop_selected)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        layout.addLayout(buttons)
        self.session_name_edit.returnPressed.connect(self._start_clicked)
        return box

    def _build_marks(self) -> QWidget:
        box = QGroupBox("Marks")
        layout = QVBoxLayout(box)
        filters = QGridLayout()
        self.session_filter = QComboBox()
        self.person_filter = QComboBox()
        self.kind_filter = QComboBox()
        for label, value in KINDS:
            self.kind_filter.addItem(label, value)
        today = QDate.currentDate()
        self.from_check = QCheckBox("From")
        self.from_date = QDateEdit(today)
        self.to_check = QCheckBox("to")
        self.to_date = QDateEdit(today)
        for edit in (self.from_date, self.to_date):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        for widget in (self.session_filter, self.person_filter, self.kind_filter):
            widget.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            widget.setMinimumContentsLength(10)
            widget.currentIndexChanged.connect(self.apply_filters)
        for widget in (self.from_check, self.to_check):
            widget.toggled.connect(self.apply_filters)
        for widget in (self.from_date, self.to_date):
            widget.dateChanged.connect(self.apply_filters)
        filters.addWidget(QLabel("Session"), 0, 0)
        filters.addWidget(self.session_filter, 0, 1)
        filters.addWidget(QLabel("Kind"), 0, 2)
        filters.addWidget(self.kind_filter, 0, 3)
        filters.addWidget(QLabel("Person"), 1, 0)
        filters.addWidget(self.person_filter, 1, 1)
        dates = QHBoxLayout()
        for widget in (self.from_check, self.from_date, self.to_check, self.to_date):
            dates.addWidget(widget)
        dates.addStretch(1)
        filters.addLayout(dates, 2, 0, 1, 4)
        filters.setColumnStretch(1, 1)
        filters.setColumnStretch(3, 1)
        layout.addLayout(filters)

        self.marks_view = QTableView()
        self.marks_view.setModel(self.marks_model)
        self.marks_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.marks_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.marks_view.verticalHeader().hide()
        self.marks_view.horizontalHeader().setStretchLastSection(True)
        self.marks_view.selectionModel().selectionChanged.connect(self._selection_changed)
        layout.addWidget(self.marks_view, 1)

        actions = QHBoxLayout()
        self.count_label = QLabel()
        self.manual_button = QPushButton("Mark manually…")
        self.manual_button.clicked.connect(self.ask_manual_mark)
        self.unmark_button = QPushButton("Remove mark…")
        self.unmark_button.clicked.connect(self.ask_unmark)
        self.export_button = QPushButton("Export…")
        self.export_button.clicked.connect(self._export_clicked)
        actions.addWidget(self.count_label, 1)
        for button in (self.manual_button, self.unmark_button, self.export_button):
            actions.addWidget(button)
        layout.addLayout(actions)
        return box

    def _build_evidence(self) -> QWidget:
        box = QGroupBox("Evidence")
        layout = QVBoxLayout(box)
        self.evidence_label = QLabel()
        self.evidence_label.setMinimumSize(EVIDENCE_SIZE, EVIDENCE_SIZE)
        self.evidence_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.evidence_caption = QLabel()
        self.evidence_caption.setWordWrap(True)
        layout.addWidget(self.evidence_label)
        layout.addWidget(self.evidence_caption)
        layout.addStretch(1)
        return box

    # ------------------------------------------------------------------ sessions

    def _start_clicked(self) -> None:
        if self.start_session(self.session_name_edit.text(), self.session_group_edit.text()) is not None:
            self.session_name_edit.clear()

    def start_session(self, name: str, group_name: str = "") -> Session | None:
        try:
            session = self.ctx.attendance.start_session(name, group_name.strip())
        except RollcallError as exc:
            self.ctx.notifier.exception("Starting a session", exc)
            return None
        self.ctx.attendance_changed.emit()
        self.select_session(session.id)
        return session

    def stop_selected(self) -> Session | None:
        session = self.selected_session()
        if session is None:
            self.ctx.notifier.warning("Stopping a session", "Select the session to stop first.")
            return None
        try:
            stopped = self.ctx.attendance.stop_session(session.id)
        except RollcallError as exc:
            self.ctx.notifier.exception("Stopping a session", exc)
            return None
        self.ctx.attendance_changed.emit()
        return stopped

    def selected_session(self) -> Session | None:
        rows = self.sessions_view.selectionModel().selectedRows()
        return self.sessions_model.session_at(rows[0].row()) if rows else None

    def select_session(self, session_id: int) -> bool:
        """Select the session in the list; the marks table then shows its marks."""
        row = self.sessions_model.row_of(session_id)
        if row < 0:
            return False
        self.sessions_view.selectionModel().select(
            self.sessions_model.index(row, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        return True

    def _session_selected(self, *_: object) -> None:
        session = self.selected_session()
        self.stop_button.setEnabled(session is not None and session.open)
        if session is not None:
            index = self.session_filter.findData(session.id)
            if index >= 0:
                self.session_filter.setCurrentIndex(index)

    # ------------------------------------------------------------------ filters

    def _fill_session_filter(self) -> None:
        current = self.session_filter.currentData()
        self.session_filter.blockSignals(True)
        self.session_filter.clear()
        self.session_filter.addItem("All sessions", None)
        for session in self.sessions_model.sessions:
            self.session_filter.addItem(f"{session.name} ({session.started_at[:10]})", session.id)
        index = self.session_filter.findData(current)
        self.session_filter.setCurrentIndex(max(index, 0))
        self.session_filter.blockSignals(False)

    def _fill_people(self) -> None:
        current = self.person_filter.currentData()
        self.person_filter.blockSignals(True)
        self.person_filter.clear()
        self.person_filter.addItem("Everyone", None)
        for person in self.ctx.gallery.people():
            self.person_filter.addItem(person.name, person.id)
        index = self.person_filter.findData(current)
        self.person_filter.setCurrentIndex(max(index, 0))
        self.person_filter.blockSignals(False)
        if index < 0 and current is not None:  # the person was deleted: show everyone again
            self.apply_filters()

    def _after_attendance_change(self) -> None:
        self._fill_session_filter()
        self.apply_filters()

    def set_filters(self, *, session_id: int | None = None, start: _dt.date | None = None, end: _dt.date | None = None,
                    person_id: int | None = None, manual: bool | None = None) -> None:
        """Set the filter widgets (dates inclusive) and show the matching marks."""
        widgets = (self.session_filter, self.person_filter, self.kind_filter, self.from_check, self.to_check,
                   self.from_date, self.to_date)
        for widget in widgets:
            widget.blockSignals(True)
        self.session_filter.setCurrentIndex(max(self.session_filter.findData(session_id), 0))
        self.person_filter.setCurrentIndex(max(self.person_filter.findData(person_id), 0))
        self.kind_filter.setCurrentIndex(next(i for i, (_, v) in enumerate(KINDS) if v == manual))
        self.from_check.setChecked(start is not None)
        self.to_check.setChecked(end is not None)
        if start is not None:
            self.from_date.setDate(QDate(start.year, start.month, start.day))
        if end is not None:
            self.to_date.setDate(QDate(end.year, end.month, end.day))
        for widget in widgets:
            widget.blockSignals(False)
        self.apply_filters()

    def apply_filters(self, *_: object) -> None:
        start = self.from_date.date().toString("yyyy-MM-dd") if self.from_check.isChecked() else None
        end = self.to_date.date().addDays(1).toString("yyyy-MM-dd") if self.to_check.isChecked() else None  # inclusive
        self.marks_model.set_filters(self.session_filter.currentData(), start, end,
                                     self.person_filter.currentData(), self.kind_filter.currentData())
        n = self.marks_model.rowCount()
        self.count_label.setText(f"{n} mark{'s' if n != 1 else ''} shown")

    def filter_session_id(self) -> int | None:
        return self.session_filter.currentData()

    # ------------------------------------------------------------------ selection and evidence

    def selected_mark(self) -> Mark | None:
        rows = self.marks_view.selectionModel().selectedRows()
        return self.marks_model.mark_at(rows[0].row()) if rows else None

    def select_mark(self, mark_id: int) -> bool:
        row = self.marks_model.row_of(mark_id)
        if row < 0:
            return False
        self.marks_view.selectionModel().select(
            self.marks_model.index(row, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        return True

    def _selection_changed(self, *_: object) -> None:
        mark = self.selected_mark()
        self.unmark_button.setEnabled(mark is not None and mark.person_id is not None)
        self.show_evidence(mark)

    def show_evidence(self, mark: Mark | None) -> None:
        self.evidence_label.clear()
        if mark is None:
            self.evidence_caption.setText("Select a mark to see the face that was recognised.")
            return
        image = jpeg_to_qimage(self.ctx.attendance.evidence(mark.id))
        if image.isNull():
            self.evidence_caption.setText(
                f"{mark.person_name}: marked manually by {mark.operator or 'an operator'}, no photo." if mark.manual
                else f"{mark.person_name}: no evidence photo was kept for this mark.")
            return
        self.evidence_label.setPixmap(thumbnail(image, EVIDENCE_SIZE))
        score = f", score {mark.score:.3f}" if mark.score is not None else ""
        self.evidence_caption.setText(f"{mark.person_name} at {mark.marked_at[11:19]}{score}")

    # ------------------------------------------------------------------ manual mark / unmark

    def ask_manual_mark(self) -> ReasonDialog | None:
        """Open (without blocking) the dialog that asks whom to mark and why."""
        session_id = self.filter_session_id()
        if session_id is None:
            self.ctx.notifier.warning("Manual mark", "Choose the session first (select it in the list).")
            return None
        marked = {m.person_id for m in self.ctx.attendance.marks(session_id)}
        people = [(p.name, p.id) for p in self.ctx.gallery.people() if p.id not in marked]
        if not people:
            self.ctx.notifier.warning("Manual mark", "Everyone enrolled is already marked in this session.")
            return None
        dialog = ReasonDialog(self, "Mark manually", f"Mark a person present in '{self.ctx.attendance.session(session_id).name}'.",
                              people)
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
            person = self.ctx.gallery.person(person_id)
            mark = self.ctx.attendance.manual_mark(session_id, person.id, person.name, operator=operator,
                                                   reason=reason.strip())
        except RollcallError as exc:
            self.ctx.notifier.exception(title, exc)
            return None
        self.ctx.attendance_changed.emit()
        self.ctx.notifier.info(title, f"{person.name} marked present")
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
            self.ctx.attendance.unmark(mark.session_id, mark.person_id, operator=operator, reason=reason.strip())
        except RollcallError as exc:
            self.ctx.notifier.exception(title, exc)
            return False
        self.ctx.attendance_changed.emit()
        self.ctx.notifier.info(title, f"{mark.person_name}'s mark removed")
        return True

    def _open(self, dialog: ReasonDialog) -> None:
        if self._dialog is not None:
            self._dialog.deleteLater()
        self._dialog = dialog
        dialog.open()

    # ------------------------------------------------------------------ export

    def _export_clicked(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(self, "Export attendance", "attendance.xlsx", EXPORT_FILTER)
        if path:
            if not Path(path).suffix:
                path += ".csv" if "csv" in chosen.lower() else ".xlsx"
            self.export_to(path)

    def export_to(self, path: str | Path) -> Task:
        """Write the marks the table shows (the current filters) to CSV or XLSX, by the file's suffix,
        in the background (a long history takes a while as XLSX); the notifier says how it went."""
        marks = list(self.marks_model.marks)

        def done(written: Path) -> None:
            self.ctx.notifier.info("Export", f"{len(marks)} mark{'s' if len(marks) != 1 else ''} written to {written}")

        return self.ctx.tasks.run("Export", lambda control: export_marks(marks, path), on_done=done)
