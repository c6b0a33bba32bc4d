"""The Attendance tab's Sessions pane: the list of sessions, and starting a session (the start dialog:
name, group, scheduled start, lateness) or stopping the selected one through the application service
(`ctx.service`). Selecting a session says so (`session_selected`), so the register and marks panes can
show it; stopping one says so too (`session_stopped`: the page shows its summary)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
    QVBoxLayout,
)

from core.attendance.marks import Session
from core.errors import RollcallError
from desktop.context import AppContext
from desktop.register.session_dialogs import StartSessionDialog, ask_start_session
from desktop.tables.sessions_table import SessionsTableModel
from desktop.widgets.helpers import select_row


class SessionsPane(QGroupBox):
    session_selected = Signal(object)  # the Session now selected, or None
    session_stopped = Signal(object)  # the Session just stopped here

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
        self._kept_id: int | None = None
        sessions_model.modelAboutToBeReset.connect(self._keep_selection)
        sessions_model.modelReset.connect(self._restore_selection)
        layout.addWidget(self.sessions_view, 1)

        self.start_dialog: StartSessionDialog | None = None
        buttons = QHBoxLayout()
        self.start_button = QPushButton("&Start session…")
        self.start_button.setToolTip("Open a new session (name, group, start time) to mark people in")
        self.start_button.clicked.connect(self.ask_start_session)
        self.stop_button = QPushButton("S&top selected")
        self.stop_button.setToolTip("Close the selected session: nobody more is marked in it")
        self.stop_button.clicked.connect(self.stop_selected)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        layout.addLayout(buttons)

    def ask_start_session(self) -> StartSessionDialog:
        """Open (without blocking) the start dialog; the session started is selected."""
        self.start_dialog = ask_start_session(self.ctx, self, lambda session: self.select_session(session.id))
        return self.start_dialog

    def start_session(self, name: str, group: str | int | None = "", *, scheduled_start: str | None = None,
                      late_after_min: int | None = None) -> Session | None:
        group = group.strip() if isinstance(group, str) else group
        try:
            session = self.ctx.service.start_session(name, group or None, scheduled_start=scheduled_start,
                                                     late_after_min=late_after_min)  # the list re-reads: selectable
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
        self.session_stopped.emit(stopped)
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

    def _keep_selection(self) -> None:
        session = self.selected_session()
        self._kept_id = session.id if session is not None else None

    def _restore_selection(self) -> None:
        """The list is re-read on every change (each mark the live view makes): the session selected stays
        selected, so the register and the marks beside it keep showing it."""
        if self._kept_id is None or not self.select_session(self._kept_id):
            self._selection_changed()

    def _selection_changed(self, *_: object) -> None:
        session = self.selected_session()
        self.stop_button.setEnabled(session is not None and session.open)
        self.session_selected.emit(session)
