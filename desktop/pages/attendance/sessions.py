"""The Attendance tab's Sessions pane: the list of sessions, and starting a session or stopping the
selected one through the application service (`ctx.service`). Selecting a session says so (`session_selected`), so the
marks pane can show its marks."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
)

from core.attendance.marks import Session
from core.errors import RollcallError
from desktop.context import AppContext
from desktop.tables.sessions_table import SessionsTableModel
from desktop.widgets.helpers import select_row


class SessionsPane(QGroupBox):
    session_selected = Signal(object)  # the Session now selected, or None

    def __init__(self, ctx: AppContext, sessions_model: SessionsTableModel) -> None:
        super().__init__("Sessions")
        self.ctx = ctx
        self.sessions_model = sessions_model
        layout = QVBoxLayout(self)
        self.sessions_view = QTableView()
        self.sessions_view.setModel(sessions_model)
        self.sessions_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.sessions_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.sessions_view.verticalHeader().hide()
        self.sessions_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.sessions_view.selectionModel().selectionChanged.connect(self._selection_changed)
        sessions_model.modelReset.connect(self._selection_changed)
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

    def _start_clicked(self) -> None:
        if self.start_session(self.session_name_edit.text(), self.session_group_edit.text()) is not None:
            self.session_name_edit.clear()

    def start_session(self, name: str, group: str = "") -> Session | None:
        try:
            session = self.ctx.service.start_session(name, group.strip() or None)  # the list re-reads: selectable
        except RollcallError as exc:
            self.ctx.notifier.exception("Starting a session", exc)
            return None
        self.select_session(session.id)
        return session

    def stop_selected(self) -> Session | None:
        session = self.selected_session()
        if session is None:
            self.ctx.notifier.warning("Stopping a session", "Select the session to stop first.")
            return None
        try:
            stopped = self.ctx.service.stop_session(session.id)
        except RollcallError as exc:
            self.ctx.notifier.exception("Stopping a session", exc)
            return None
        return stopped

    def selected_session(self) -> Session | None:
        rows = self.sessions_view.selectionModel().selectedRows()
        return self.sessions_model.session_at(rows[0].row()) if rows else None

    def select_session(self, session_id: int) -> bool:
        """Select the session in the list; the marks table then shows its marks."""
        row = self.sessions_model.row_of(session_id)
        if row < 0:
            return False
        select_row(self.sessions_view, row)
        return True

    def _selection_changed(self, *_: object) -> None:
        session = self.selected_session()
        self.stop_button.setEnabled(session is not None and session.open)
        self.session_selected.emit(session)
