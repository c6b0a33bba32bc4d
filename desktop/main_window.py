"""The main window: the everyday tabs (Live, People, Attendance, Settings) and, behind View > Advanced,
the Training tab; a one-line notification area that shows what the notifier receives (it never resizes
the window), and a status bar with the engine's state. Remembers its size, position, last tab and
whether Advanced is shown. The menu bar and shortcuts are in desktop.main_menu. Closing it while
sessions are open asks whether to end them (or cancel)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtGui import QCloseEvent, QGuiApplication
from PySide6.QtWidgets import QFrame, QLabel, QMainWindow, QScrollArea, QTabWidget, QVBoxLayout, QWidget

from core.errors import RollcallError
from desktop.context import AppContext
from desktop.database_dialogs import END, LEAVE, ask_about_sessions_on_close, end_sessions, open_sessions, \
    remember_left_open
from desktop.main_menu import MainMenu
from desktop.notifier import Notice
from desktop.pages.attendance_page import AttendancePage
from desktop.pages.live_page import LivePage
from desktop.pages.people_page import PeoplePage
from desktop.pages.settings_page import SettingsPage
from desktop.pages.training_page import TrainingPage
from desktop.widgets.notification_bar import NotificationBar

WINDOW_STATE_FILE = "window.ini"
TRAINING_NOTE = ("For specialists. Super-resolution (DSR) trains the model that sharpens faces too small to "
                 "recognise well; recognition model fine-tuning adapts the face model to your enrolled "
                 "people, to be reviewed before it is used.")
TAB_TIPS = {
    "Live": "Recognise faces from the camera or a video and mark the session",
    "People": "Enrol people, edit them and their face samples, import class lists",
    "Attendance": "Sessions, their registers and marks; corrections and exports",
    "Settings": "Video source, detector, recognition model, threshold, data folder and backups",
    "Training": "Advanced: train the small-face model or fine-tune the recogniser (View > Advanced hides it)",
}


class PageTabs(QTabWidget):
    """The window's tabs. A page shown inside a wrapper (the Training page, in its scrolling area) is
    still found by the page itself: setCurrentWidget, currentWidget and indexOf speak of pages."""

    def __init__(self) -> None:
        super().__init__()
        self.wrappers: dict[QWidget, QWidget] = {}  # page -> the widget that is the tab

    def indexOf(self, page: QWidget) -> int:  # noqa: N802 - Qt's name
        return super().indexOf(self.wrappers.get(page, page))

    def setCurrentWidget(self, page: QWidget) -> None:  # noqa: N802 - Qt's name
        super().setCurrentWidget(self.wrappers.get(page, page))

    def currentWidget(self) -> QWidget:  # noqa: N802 - Qt's name
        shown = super().currentWidget()
        return next((page for page, wrapper in self.wrappers.items() if wrapper is shown), shown)


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

        self.tabs = PageTabs()
        self.tabs.setDocumentMode(True)
        self.live = LivePage(ctx)
        self.people = PeoplePage(ctx)
        self.attendance = AttendancePage(ctx)
        self.training = TrainingPage(ctx)
        self.settings = SettingsPage(ctx)
        self.settings.source_picker.busy = self.live.camera_in_use  # listed, not opened, while Live uses it
        self.people.guide.choose_camera.connect(self.choose_camera)
        for title, page in self.page_order()[:-1]:
            self.tabs.addTab(page, title)
            self.tabs.setTabToolTip(self.tabs.indexOf(page), TAB_TIPS[title])
        self.advanced_area = self._advanced_area()
        self.tabs.wrappers[self.training] = self.advanced_area

        self.notifications = NotificationBar()
        ctx.notifier.posted.connect(self._on_notice)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.notifications)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.menu = MainMenu(self)
        self.backup_action, self.restore_action = self.menu.backup_action, self.menu.restore_action
        self.import_action, self.folder_action = self.menu.import_action, self.menu.folder_action
        self.show_advanced(False, remember=False)

        self.engine_label = QLabel()
        self.engine_label.setToolTip("The face detector and recogniser in use, and where they run")
        self.statusBar().addPermanentWidget(self.engine_label)
        self.db_label = QLabel()
        self.db_label.setToolTip("The database in use (File > Open database… changes it)")
        self.statusBar().addPermanentWidget(self.db_label)
        ctx.engine_changed.connect(self._show_engine)
        ctx.config_changed.connect(self._show_db)
        self._show_engine()
        self._show_db()
        self._restore()

    # ------------------------------------------------------------------ tabs and the Advanced area

    def page_order(self) -> list[tuple[str, QWidget]]:
        """The tabs in order (Ctrl+1..5); the last, Training, only while Advanced is shown."""
        return [("Live", self.live), ("People", self.people), ("Attendance", self.attendance),
                ("Settings", self.settings), ("Training", self.training)]

    def _advanced_area(self) -> QWidget:
        """The Training tab: a line on what its jobs are for, above the page (which scrolls when the
        window is short, so it never sets the window's minimum height)."""
        area = QWidget()
        layout = QVBoxLayout(area)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.training_note = QLabel(TRAINING_NOTE)
        self.training_note.setWordWrap(True)
        self.training_note.setContentsMargins(9, 6, 9, 6)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.training)
        layout.addWidget(self.training_note)
        layout.addWidget(scroll, 1)
        return area

    @property
    def advanced_shown(self) -> bool:
        return self.tabs.indexOf(self.training) >= 0

    def show_advanced(self, on: bool = True, remember: bool = True) -> None:
        """Show or hide the Training tab (View > Advanced); remembered in the window's state file."""
        on = bool(on)
        if on and not self.advanced_shown:
            index = self.tabs.addTab(self.advanced_area, "Training")
            self.tabs.setTabToolTip(index, TAB_TIPS["Training"])
        elif not on and self.advanced_shown:
            self.tabs.removeTab(self.tabs.indexOf(self.training))
        self.menu.advanced_action.setChecked(on)
        self.menu.tab_actions["Training"].setEnabled(on)
        if remember and self.state is not None:
            self.state.setValue("advanced", on)

    def choose_camera(self) -> None:
        """The first-run guide's "Choose a camera": the Live tab, with the cameras being listed."""
        self.go_to(self.live)
        self.live.source_picker.refresh()

    def go_to(self, page: QWidget) -> bool:
        """Show the tab of `page`; False when it is hidden (Training without Advanced)."""
        if self.tabs.indexOf(page) < 0:
            return False
        self.tabs.setCurrentWidget(page)
        return True

    # ------------------------------------------------------------------ state

    def _restore(self) -> None:
        if self.state is None:
            return
        geometry = self.state.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if str(self.state.value("advanced", "false")).lower() == "true":
            self.show_advanced(True, remember=False)
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
