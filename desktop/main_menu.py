"""The main window's menu bar and keyboard shortcuts. Every action calls what a page already offers
(the Settings tab's Database and General groups, the Live tab's start/stop/kiosk, the People tab's
enrolment wizard, search box and register dialogs); nothing here re-implements page logic.

File: open a database, back up, restore, quit (Ctrl+Q). View: the tabs (Ctrl+1..5), the kiosk view
(F11), Advanced (shows the Training tab). Live: start (Ctrl+R) and stop (Ctrl+.) recognition. People:
enrol (Ctrl+E), find (Ctrl+F), import a class list (Ctrl+I), enrol from a folder. Help: the keyboard
shortcuts, About Rollcall."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QMenu

from core.paths import user_data_dir
from desktop.database_dialogs import choose_database_file
from desktop.help_dialogs import AboutDialog, ShortcutsDialog, action_shortcuts

if TYPE_CHECKING:
    from desktop.main_window import MainWindow

DB_FILENAME = "rollcall.db"


class MainMenu:
    """Builds the menu bar of `window`; its actions are attributes (tests trigger them)."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.dialog = None  # the Help dialog open last (tests read it)
        bar = window.menuBar()

        file = self._menu(bar.addMenu("&File"))
        self.open_action = self._add(file, "&Open database…", self.choose_database, tip=(
            "Work on another register: choose the rollcall.db of another data folder, or name a new one"))
        self.backup_action = self._add(file, "&Back up the database now",
                                       lambda: window.settings.database_group.back_up(),
                                       tip="Copy the database into its backups folder now (it is also "
                                           "backed up once a day)")
        self.restore_action = self._add(file, "&Restore a backup…",
                                        lambda: window.settings.database_group.choose_and_restore(),
                                        tip="Replace the register with one of its backups (asked first; "
                                            "the register as it is now is backed up before)")
        file.addSeparator()
        self.quit_action = self._add(file, "&Quit", lambda: window.close(), "Ctrl+Q",
                                     tip="Close Rollcall (open sessions: you are asked what becomes of them)")

        view = self._menu(bar.addMenu("&View"))
        self.tab_actions: dict[str, QAction] = {}
        for number, (name, page) in enumerate(window.page_order(), start=1):
            self.tab_actions[name] = self._add(view, f"&{number} {name}",
                                               lambda _c=False, p=page: window.go_to(p), f"Ctrl+{number}")
            self.tab_actions[name].setProperty("shortcut_label", f"The {name} tab")
        view.addSeparator()
        self.kiosk_action = self._add(view, "&Kiosk view", lambda: window.live.toggle_kiosk(), "F11",
                                      tip="Full screen for the people arriving: their names as they are "
                                          "marked (Esc, or the kiosk PIN, leaves)")
        _retire_page_shortcut(window.live, Qt.Key.Key_F11)  # the menu's F11 does the same on every tab
        self.advanced_action = self._add(view, "&Advanced (Training tab)", window.show_advanced,
                                         tip="Show the Training tab: training the small-face model and "
                                             "fine-tuning the recogniser, for specialists")
        self.advanced_action.setCheckable(True)

        live = self._menu(bar.addMenu("&Live"))
        self.start_action = self._add(live, "&Start recognition", self.start_live, "Ctrl+R",
                                      tip="Recognise faces from the source on the Live tab and mark the "
                                          "chosen session")
        self.stop_action = self._add(live, "S&top recognition", lambda: window.live.stop(), "Ctrl+.",
                                     tip="Stop recognising (the session stays open)")
        window.live.worker.running_changed.connect(self._running_changed)

        people = self._menu(bar.addMenu("&People"))
        self.enrol_action = self._add(people, "&Enrol new person…", self.enrol, "Ctrl+E",
                                      tip="Open the enrolment wizard (camera or photos)")
        self.find_action = self._add(people, "&Find person", self.find_person, "Ctrl+F",
                                     tip="Search the enrolled people by name, external ID or group")
        people.addSeparator()
        self.import_action = self._add(people, "&Import class list…",
                                       lambda: window.people.register.open_import_dialog(), "Ctrl+I",
                                       tip="Add people from a spreadsheet (names, IDs, groups)")
        self.folder_action = self._add(people, "Enrol from a f&older…",
                                       lambda: window.people.register.open_folder_dialog(),
                                       tip="Enrol many people at once from a folder of photos")

        help_menu = self._menu(bar.addMenu("&Help"))
        self.shortcuts_action = self._add(help_menu, "&Keyboard shortcuts", self.show_shortcuts, "F1")
        self.about_action = self._add(help_menu, "&About Rollcall", self.show_about,
                                      tip="Version, licence, and where the data, settings and log are kept")

    # ------------------------------------------------------------------ building

    @staticmethod
    def _menu(menu: QMenu) -> QMenu:
        menu.setToolTipsVisible(True)
        return menu

    def _add(self, menu: QMenu, text: str, slot: Callable, keys: str = "", tip: str = "") -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(lambda checked=False: slot(checked) if action.isCheckable() else slot())
        if keys:
            action.setShortcut(QKeySequence(keys))
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        return action

    def actions(self) -> list[QAction]:
        return [a for menu in self.window.menuBar().findChildren(QMenu) for a in menu.actions()
                if not a.isSeparator()]

    # ------------------------------------------------------------------ what the actions do

    def choose_database(self) -> bool:
        """Choose another data folder's rollcall.db (or name a new one); the Settings tab's data folder
        setting does the switch. Another file name is refused with the way to open it (--db)."""
        window = self.window
        path = choose_database_file(window, window.ctx.db_path.parent)
        if path is None:
            return False
        return self.open_database_file(path)

    def open_database_file(self, path: Path) -> bool:
        window = self.window
        path = Path(path)
        if path.name != DB_FILENAME:
            window.ctx.notifier.warning(
                "Open database", f"Rollcall keeps its register in a file named {DB_FILENAME} in the data folder, "
                                 f"so {path.name} cannot be opened from here. Start Rollcall with "
                                 f"--db \"{path}\" to use it, or choose a {DB_FILENAME}.")
            return False
        if path.absolute() == window.ctx.db_path.absolute():
            return True
        if window.ctx.db_path != window.ctx.config.db_path:  # started with --db: the data folder is not used
            window.ctx.notifier.warning(
                "Open database", f"This run uses {window.ctx.db_path} (given with --db). Start Rollcall with "
                                 f"--db \"{path}\" to use {path}.")
            return False
        return window.settings.general_group.apply_data_folder(str(path.parent))

    def start_live(self) -> None:
        self.window.go_to(self.window.live)
        self.window.live.start()

    def enrol(self) -> None:
        self.window.go_to(self.window.people)
        self.window.people.open_enrol_wizard()

    def find_person(self) -> None:
        self.window.go_to(self.window.people)
        self.window.people.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.window.people.search_edit.selectAll()

    def _running_changed(self, running: bool) -> None:
        self.start_action.setEnabled(not running)

    def shortcuts(self) -> list[tuple[str, str]]:
        return action_shortcuts(self.actions())

    def show_shortcuts(self) -> ShortcutsDialog:
        self.dialog = ShortcutsDialog(self.shortcuts(), self.window)
        self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog.show()
        return self.dialog

    def show_about(self) -> AboutDialog:
        ctx = self.window.ctx
        folder = Path(ctx.config.data_folder) if ctx.config.data_folder else user_data_dir()
        self.dialog = AboutDialog(folder, ctx.db_path, ctx.config_file, self.window)
        self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog.show()
        return self.dialog


def _retire_page_shortcut(page, key: Qt.Key) -> None:
    """Disable a page's own shortcut for `key`: a menu action with the same key replaces it (two
    shortcuts for one key in one window are ambiguous, and neither would fire)."""
    for shortcut in page.findChildren(QShortcut):
        if shortcut.key() == QKeySequence(key):
            shortcut.setEnabled(False)
