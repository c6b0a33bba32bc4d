"""The main window: Live, People, Attendance, Training and Settings tabs, a notification bar that
shows what the notifier receives, and a status bar with the engine's state. Remembers its size,
position and last tab. File menu: back up the database, restore a backup (the Settings tab's Database
group does the work), import a class list, enrol from a folder (the People tab's dialogs), quit. Closing it while sessions are open asks whether to end them (or cancel)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtGui import QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QTabWidget, QVBoxLayout, QWidget

from core.errors import RollcallError
from desktop.context import AppContext
from desktop.database_dialogs import END, LEAVE, ask_about_sessions_on_close, end_sessions, open_sessions, \
    remember_left_open
from desktop.notifier import Notice
from desktop.pages.attendance_page import AttendancePage
from desktop.pages.live_page import LivePage
from desktop.pages.people_page import PeoplePage
from desktop.pages.settings_page import SettingsPage
from desktop.pages.training_page import TrainingPage
from desktop.widgets.notification_bar import NotificationBar

WINDOW_STATE_FILE = "window.ini"


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext, state_file: Path | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        self._shut_down = False
        self.setWindowTitle("Rollcall")
        screen = QGuiApplication.primaryScreen()
        room = screen.availableGeometry() if screen is not None else None
        # 1280×800 where it fits; on a 1366×768 laptop, the screen less the taskbar
        self.resize(min(1280, room.width()) if room else 1280, min(800, room.height() - 30) if room else 800)
        self.state = QSettings(str(state_file), QSettings.Format.IniFormat) if state_file else None

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.live = LivePage(ctx)
        self.people = PeoplePage(ctx)
        self.attendance = AttendancePage(ctx)
        self.training = TrainingPage(ctx)
        self.settings = SettingsPage(ctx)
        self.settings.source_picker.busy = self.live.camera_in_use  # listed, not opened, while Live uses it
        for page, title in ((self.live, "Live"), (self.people, "People"), (self.attendance, "Attendance"),
                            (self.training, "Training"), (self.settings, "Settings")):
            self.tabs.addTab(page, title)

        self.notifications = NotificationBar()
        ctx.notifier.posted.connect(self._on_notice)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.notifications)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        file_menu = self.menuBar().addMenu("&File")
        self.backup_action = file_menu.addAction("&Back up now", lambda: self.settings.database_group.back_up())
        self.restore_action = file_menu.addAction("&Restore backup…",
                                                  lambda: self.settings.database_group.choose_and_restore())
        file_menu.addSeparator()
        self.import_action = file_menu.addAction("&Import class list…", lambda: self.people.register.open_import_dialog())
        self.import_action.setShortcut(QKeySequence("Ctrl+I"))
        self.folder_action = file_menu.addAction("&Enrol from folder…", lambda: self.people.register.open_folder_dialog())
        file_menu.addSeparator()
        file_menu.addAction("&Quit", self.close)

        self.engine_label = QLabel()
        self.statusBar().addPermanentWidget(self.engine_label)
        self.db_label = QLabel()
        self.statusBar().addPermanentWidget(self.db_label)
        ctx.engine_changed.connect(self._show_engine)
        ctx.config_changed.connect(self._show_db)
        self._show_engine()
        self._show_db()
        self._restore()

    # ------------------------------------------------------------------ state

    def _restore(self) -> None:
        if self.state is None:
            return
        geometry = self.state.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        tab = self.state.value("tab")
        if tab is not None and str(tab).isdigit() and int(tab) < self.tabs.count():
            self.tabs.setCurrentIndex(int(tab))

    def save_state(self) -> None:
        if self.state is None:
            return
        self.state.setValue("geometry", self.saveGeometry())
        self.state.setValue("tab", self.tabs.currentIndex())
        self.state.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if not self._shut_down and not self.settle_open_sessions():
            event.ignore()
            return
        self.shutdown()
        super().closeEvent(event)

    def settle_open_sessions(self) -> bool:
        """Ask what becomes of the sessions still open: end them, leave them open (not offered as a
        crash's leftovers at the next start), or cancel; False when the window should stay open."""
        try:
            sessions = open_sessions(self.ctx)
        except RollcallError as exc:  # a database that cannot be read never keeps the window open
            self.ctx.notifier.exception("Sessions", exc)
            return True
        except sqlite3.ProgrammingError:  # the context was closed already (another window on it)
            return True
        if not sessions:
            return True
        answer = ask_about_sessions_on_close(self, sessions)
        if answer == END:
            self.live.stop()  # nothing is marked into a session while it ends
            end_sessions(self.ctx, sessions)
        elif answer == LEAVE:
            remember_left_open(self.ctx, sessions)
        return answer in (END, LEAVE)

    def shutdown(self) -> None:
        """Stop the workers, wait for running tasks, close the database; safe to call twice."""
        if self._shut_down:
            return
        self._shut_down = True
        self.save_state()
        self.live.shutdown()
        self.settings.source_picker.cancel()  # a search for cameras stops before the next one
        self.people.shutdown()  # an open enrolment wizard's camera
        self.training.shutdown()
        self.ctx.close()

    # ------------------------------------------------------------------ status

    def _on_notice(self, notice: Notice) -> None:
        if notice.level == "info":
            self.statusBar().showMessage(f"{notice.title}: {notice.text}" if notice.text else notice.title, 8000)
        else:
            self.notifications.show_notice(notice)

    def _show_engine(self) -> None:
        ctx = self.ctx
        if ctx.engine_ready:
            p = ctx.pipeline
            self.engine_label.setText(f"{p.detector.name} + {p.embedder.name} on {ctx.config.device}")
            self.engine_label.setStyleSheet("")
        elif ctx.engine_error:
            self.engine_label.setText("models not loaded")
            self.engine_label.setStyleSheet("color: #b3261e;")
        else:
            self.engine_label.setText("loading models…")

    def _show_db(self) -> None:
        self.db_label.setText(str(self.ctx.db_path))
