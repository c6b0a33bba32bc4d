"""The Attendance tab's Marks pane: filters (session, person, kind, date range), the table of the marks
they match, how many it shows, and the buttons for a manual mark, a removal and the export (the page
connects those). Selecting a mark says so (`mark_selected`)."""

from __future__ import annotations

import datetime as _dt

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
)

from core.attendance.marks import Mark, Session
from desktop.context import AppContext
from desktop.tables.marks_table import MarksTableModel
from desktop.tables.sessions_table import SessionsTableModel
from desktop.widgets.helpers import select_row, signals_blocked

KINDS = (("All kinds", None), ("Automatic", False), ("Manual", True))


class MarksPane(QGroupBox):
    mark_selected = Signal(object)  # the Mark now selected, or None

    def __init__(self, ctx: AppContext, marks_model: MarksTableModel, sessions_model: SessionsTableModel) -> None:
        super().__init__("Marks")
        self.ctx = ctx
        self.marks_model = marks_model
        self.sessions_model = sessions_model
        layout = QVBoxLayout(self)
        filters = QGridLayout()
        self.session_filter = QComboBox()
        self.person_filter = QComboBox()
        self.kind_filter = QComboBox()
        self.session_filter.setToolTip("Show the marks of one session, or of all")
        self.person_filter.setToolTip("Show the marks of one person, or of everyone")
        self.kind_filter.setToolTip("Show recognised marks, manual ones or both")
        for label, value in KINDS:
            self.kind_filter.addItem(label, value)
        today = QDate.currentDate()
        self.from_check = QCheckBox("From")
        self.from_date = QDateEdit(today)
        self.to_check = QCheckBox("to")
        self.to_date = QDateEdit(today)
        self.from_check.setToolTip("Tick to hide marks before the date beside it")
        self.from_date.setToolTip("The first day shown (when From is ticked)")
        self.to_check.setToolTip("Tick to hide marks after the date beside it")
        self.to_date.setToolTip("The last day shown (when to is ticked)")
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
        self.marks_view.setModel(marks_model)
        self.marks_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.marks_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.marks_view.verticalHeader().hide()
        self.marks_view.horizontalHeader().setStretchLastSection(True)
        self.marks_view.selectionModel().selectionChanged.connect(self.selection_changed)
        layout.addWidget(self.marks_view, 1)

        actions = QHBoxLayout()
        self.count_label = QLabel()
        self.manual_button = QPushButton("Mark manually…")
        self.unmark_button = QPushButton("Remove mark…")
        self.export_button = QPushButton("Export…")
        self.manual_button.setToolTip("Mark someone present by hand (asks who and why)")
        self.unmark_button.setToolTip("Take back the selected mark (asks why; the operator is recorded)")
        self.export_button.setToolTip("Save the marks listed (the filters apply) to an Excel or CSV file")
        actions.addWidget(self.count_label, 1)
        for button in (self.manual_button, self.unmark_button, self.export_button):
            actions.addWidget(button)
        layout.addLayout(actions)
        marks_model.modelReset.connect(self.selection_changed)

    # ------------------------------------------------------------------ filters

    def fill_sessions(self) -> None:
        """The session filter lists the sessions (the one chosen stays chosen)."""
        current = self.session_filter.currentData()
        with signals_blocked(self.session_filter):
            self.session_filter.clear()
            self.session_filter.addItem("All sessions", None)
            for session in self.sessions_model.sessions:
                self.session_filter.addItem(f"{session.name} ({session.started_at[:10]})", session.id)
            index = self.session_filter.findData(current)
            self.session_filter.setCurrentIndex(max(index, 0))

    def fill_people(self) -> None:
        """The person filter lists the people enrolled; when the one chosen was deleted, everyone is shown."""
        current = self.person_filter.currentData()
        with signals_blocked(self.person_filter):
            self.person_filter.clear()
            self.person_filter.addItem("Everyone", None)
            for person in self.ctx.service.gallery.people():
                self.person_filter.addItem(person.name, person.id)
            index = self.person_filter.findData(current)
            self.person_filter.setCurrentIndex(max(index, 0))
        if index < 0 and current is not None:  # the person was deleted: show everyone again
            self.apply_filters()

    def show_session(self, session: Session | None) -> None:
        """Filter on this session (the one selected in the sessions pane)."""
        if session is not None:
            index = self.session_filter.findData(session.id)
            if index >= 0:
                self.session_filter.setCurrentIndex(index)

    def set_filters(self, *, session_id: int | None = None, start: _dt.date | None = None, end: _dt.date | None = None,
                    person_id: int | None = None, manual: bool | None = None) -> None:
        """Set the filter widgets (dates inclusive) and show the matching marks."""
        with signals_blocked(self.session_filter, self.person_filter, self.kind_filter, self.from_check,
                             self.to_check, self.from_date, self.to_date):
            self.session_filter.setCurrentIndex(max(self.session_filter.findData(session_id), 0))
            self.person_filter.setCurrentIndex(max(self.person_filter.findData(person_id), 0))
            self.kind_filter.setCurrentIndex(next(i for i, (_, v) in enumerate(KINDS) if v == manual))
            self.from_check.setChecked(start is not None)
            self.to_check.setChecked(end is not None)
            if start is not None:
                self.from_date.setDate(QDate(start.year, start.month, start.day))
            if end is not None:
                self.to_date.setDate(QDate(end.year, end.month, end.day))
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

    # ------------------------------------------------------------------ selection

    def selected_mark(self) -> Mark | None:
        rows = self.marks_view.selectionModel().selectedRows()
        return self.marks_model.mark_at(rows[0].row()) if rows else None

    def select_mark(self, mark_id: int) -> bool:
        row = self.marks_model.row_of(mark_id)
        if row < 0:
            return False
        select_row(self.marks_view, row)
        return True

    def selection_changed(self, *_: object) -> None:
        mark = self.selected_mark()
        self.unmark_button.setEnabled(mark is not None and mark.person_id is not None)
        self.mark_selected.emit(mark)
