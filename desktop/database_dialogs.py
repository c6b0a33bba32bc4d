"""Questions about the database and its sessions: a database that cannot be opened at start (restore
a backup, open another, quit), choosing a backup, confirming a restore, and sessions still open when
the window closes or left open by a crash. Each returns the operator's choice; the callers act on it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QLabel, QListWidget, QListWidgetItem, QMessageBox, QPushButton,
    QVBoxLayout, QWidget,
)

from core.attendance.marks import Session
from core.errors import RollcallError
from core.storage.backup import BackupInfo, backup_folder, list_backups
from desktop.context import AppContext
from desktop.dialogs import open_file, open_or_new_file

logger = logging.getLogger(__name__)

RESTORE, OTHER, QUIT = "restore", "other", "quit"
END, LEAVE, CANCEL = "end", "leave", "cancel"
DATABASE_FILTER = "Rollcall databases (*.db);;All files (*)"
_REASONS = {"manual": "made by hand", "daily": "daily", "before-migration": "before an upgrade",
            "before-promotion": "before a model promotion", "before-restore": "before a restore"}


def _choice(box: QMessageBox, buttons: dict[str, object], default: str) -> str:
    box.exec()
    clicked = box.clickedButton()
    return next((name for name, button in buttons.items() if button is clicked), default)


def describe_backup(backup: BackupInfo) -> str:
    size = f"{backup.size / 1e6:.1f} MB" if backup.size >= 1e5 else f"{backup.size / 1e3:.0f} kB"
    return f"{backup.created:%Y-%m-%d %H:%M:%S} · {_REASONS.get(backup.reason, backup.reason)} · {size}"


# ------------------------------------------------------------------ a database that cannot be opened

def ask_about_unopenable_database(parent: QWidget | None, path: Path, error: RollcallError) -> str:
    """RESTORE, OTHER or QUIT, for the database `path` that failed to open with `error`."""
    box = QMessageBox(QMessageBox.Icon.Critical, "Rollcall cannot open the database",
                      f"The database {path} cannot be opened.", parent=parent)
    backups = list_backups(backup_folder(path))
    where = (f"The newest backup is from {backups[0].created:%Y-%m-%d %H:%M}." if backups
             else f"There are no backups in {backup_folder(path)}; you can choose a backup file elsewhere.")
    box.setInformativeText(f"{error}\n\n{where}")
    buttons = {RESTORE: box.addButton("Restore a backup…", QMessageBox.ButtonRole.AcceptRole),
               OTHER: box.addButton("Open another database…", QMessageBox.ButtonRole.ActionRole),
               QUIT: box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)}
    box.setDefaultButton(buttons[RESTORE])
    box.setEscapeButton(buttons[QUIT])
    return _choice(box, buttons, QUIT)


def choose_database_file(parent: QWidget | None, folder: Path) -> Path | None:
    """An existing database, or the name of a new one, or None."""
    path = open_or_new_file(parent, "Open another database (or name a new one)", str(folder), DATABASE_FILTER)
    return Path(path) if path else None


# ------------------------------------------------------------------ backups

class BackupChooser(QDialog):
    """The backups of one database, newest first; "Other file…" picks a backup kept elsewhere."""

    def __init__(self, db_path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Restore a backup")
        self.folder = backup_folder(db_path)
        self.backups = list_backups(self.folder)
        self.chosen: Path | None = None
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Backups of {db_path}, newest first:" if self.backups
                                else f"There are no backups in {self.folder}."))
        self.list = QListWidget()
        for backup in self.backups:
            item = QListWidgetItem(describe_backup(backup))
            item.setData(Qt.ItemDataRole.UserRole, str(backup.path))
            item.setToolTip(str(backup.path))
            self.list.addItem(item)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        layout.addWidget(self.list, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Restore…")
        self.other_button = QPushButton("Other file…")
        buttons.addButton(self.other_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.other_button.clicked.connect(self.choose_other_file)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.list.currentRowChanged.connect(lambda row: self.ok_button.setEnabled(row >= 0))
        self.ok_button.setEnabled(False)
        if self.backups:
            self.list.setCurrentRow(0)
        self.resize(560, 320)

    def choose_other_file(self) -> None:
        path = open_file(self, "Backup to restore", str(self.folder if self.folder.is_dir() else ""), DATABASE_FILTER)
        if path:
            self.chosen = Path(path)
            self.accept()

    def selected(self) -> Path | None:
        if self.chosen is not None:
            return self.chosen
        item = self.list.currentItem()
        return Path(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None


def choose_backup(parent: QWidget | None, db_path: Path) -> Path | None:
    dialog = BackupChooser(db_path, parent)
    try:
        return dialog.selected() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()


def confirm_restore(parent: QWidget | None, backup: Path, db_path: Path) -> bool:
    box = QMessageBox(QMessageBox.Icon.Warning, "Restore a backup",
                      f"Replace the register in {db_path} with the backup {backup.name}?", parent=parent)
    box.setInformativeText("Everything recorded since that backup is replaced. The register as it is now is "
                           "backed up first (reason: before-restore), so this can be undone.")
    buttons = {"restore": box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole),
               CANCEL: box.addButton(QMessageBox.StandardButton.Cancel)}
    box.setDefaultButton(buttons[CANCEL])
    return _choice(box, buttons, CANCEL) == "restore"


# ------------------------------------------------------------------ sessions

def _names(sessions: list[Session]) -> str:
    shown = ", ".join(f"“{s.name}”" for s in sessions[:5])
    return shown + (f" and {len(sessions) - 5} more" if len(sessions) > 5 else "")


def open_sessions(ctx: AppContext) -> list[Session]:
    return ctx.service.open_sessions()


def ask_about_sessions_on_close(parent: QWidget | None, sessions: list[Session]) -> str:
    """END, LEAVE or CANCEL (keep the window open)."""
    one = len(sessions) == 1
    text = (f"The session {_names(sessions)} is still open." if one
            else f"{len(sessions)} sessions are still open: {_names(sessions)}.")
    box = QMessageBox(QMessageBox.Icon.Question, "Session still open", text, parent=parent)
    box.setInformativeText("End it now, or leave it open to go on with it next time?" if one
                           else "End them now, or leave them open to go on with them next time?")
    buttons = {END: box.addButton("End session" if one else "End sessions", QMessageBox.ButtonRole.AcceptRole),
               LEAVE: box.addButton("Leave it open" if one else "Leave them open",
                                    QMessageBox.ButtonRole.DestructiveRole),
               CANCEL: box.addButton(QMessageBox.StandardButton.Cancel)}
    box.setDefaultButton(buttons[END])
    box.setEscapeButton(buttons[CANCEL])
    return _choice(box, buttons, CANCEL)


def end_sessions(ctx: AppContext, sessions: list[Session]) -> int:
    """End these sessions through the service (one report); how many were ended. A failure goes to
    the notifier."""
    ended = 0
    try:
        with ctx.service.batch():
            for session in sessions:
                ctx.service.stop_session(session.id)
                ended += 1
    except RollcallError as exc:
        ctx.notifier.exception("Ending sessions", exc)
    return ended


def remember_left_open(ctx: AppContext, sessions: list[Session]) -> None:
    """The operator left these open on purpose when closing (empty: forget)."""
    try:
        ctx.service.leave_sessions_open(sessions)
    except RollcallError as exc:
        logger.warning("cannot remember the sessions left open: %s", exc)


def offer_to_end_crashed_sessions(parent: QWidget | None, ctx: AppContext) -> int:
    """At start: one question about the sessions a crash left open (end them all / keep them);
    how many were ended. What was left open on purpose is forgotten here, so that a crash during
    this run offers every open session next time."""
    sessions = ctx.service.sessions_left_by_a_crash()
    remember_left_open(ctx, [])
    if not sessions:
        return 0
    one = len(sessions) == 1
    text = (f"The session {_names(sessions)} was left open when Rollcall last stopped." if one
            else f"{len(sessions)} sessions were left open when Rollcall last stopped: {_names(sessions)}.")
    box = QMessageBox(QMessageBox.Icon.Question, "Sessions left open", text, parent=parent)
    box.setInformativeText("End them now (they end at this time), or keep them open to go on with them?")
    buttons = {END: box.addButton("End them all", QMessageBox.ButtonRole.AcceptRole),
               LEAVE: box.addButton("Keep them open", QMessageBox.ButtonRole.RejectRole)}
    box.setDefaultButton(buttons[LEAVE])
    if _choice(box, buttons, LEAVE) != END:
        return 0
    ended = end_sessions(ctx, sessions)
    if ended:
        ctx.notifier.info("Sessions", f"{ended} session{'s' if ended != 1 else ''} ended")
    return ended
