"""The Settings tab's Database group: the database file in use, its last backup, "Back up now" (in the
background, through SQLite's backup API) and "Restore a backup…" (asked first; core's restore backs up
the register as it was; the database is then opened again and every page re-reads it)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QPushButton

from core.errors import RollcallError
from core.storage.backup import MANUAL, backup_database, backup_folder, list_backups, restore_database
from desktop.app_database import reopen_database
from desktop.config import DesktopConfig
from desktop.context import AppContext
from desktop.database_dialogs import choose_backup, confirm_restore, describe_backup
from desktop.pages.settings.base import SettingsGroup, SettingsHost
from desktop.tasks import Task

TITLE = "Database"


class DatabaseGroup(SettingsGroup):
    def __init__(self, ctx: AppContext, host: SettingsHost) -> None:
        super().__init__(TITLE, ctx, host)
        form = QFormLayout(self)
        self.db_path_label = QLabel()
        self.db_path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.db_path_label.setWordWrap(True)
        form.addRow("File", self.db_path_label)
        self.last_backup_label = QLabel()
        form.addRow("Last backup", self.last_backup_label)
        self.backup_button = QPushButton("Back up now")
        self.backup_button.setToolTip("Copy the database (people, faces, attendance) to the backups folder now")
        self.backup_button.clicked.connect(self.back_up)
        self.restore_button = QPushButton("Restore a backup…")
        self.restore_button.setToolTip("Replace the current data with a backup you choose (asks first)")
        self.restore_button.clicked.connect(self.choose_and_restore)
        row = QHBoxLayout()
        row.addWidget(self.backup_button)
        row.addWidget(self.restore_button)
        row.addStretch(1)
        form.addRow("", row)
        self.backup_task: Task | None = None

    def load(self, config: DesktopConfig) -> None:
        self.show_database()

    def show_database(self) -> None:
        path = self.ctx.db_path
        self.db_path_label.setText(str(path))
        backups = list_backups(backup_folder(path))
        self.last_backup_label.setText(describe_backup(backups[0]) if backups else "none yet")
        self.last_backup_label.setToolTip(str(backups[0].path) if backups else f"Backups go to {backup_folder(path)}")

    def back_up(self) -> Task:
        """A manual backup of the database in the background (its own connection); the notifier says where."""
        path = self.ctx.db_path
        self.backup_button.setEnabled(False)

        def done(written: Path) -> None:
            self.ctx.notifier.info("Backup", f"written to {written}")

        def finished() -> None:
            self.backup_button.setEnabled(True)
            self.show_database()

        task = self.ctx.tasks.run("Backup", lambda _control: backup_database(path, MANUAL), on_done=done)
        task.finished.connect(finished)
        self.backup_task = task
        return task

    def choose_and_restore(self) -> bool:
        backup = choose_backup(self, self.ctx.db_path)
        return self.restore(backup) if backup is not None else False

    def restore(self, backup: str | Path, *, confirm: bool = True) -> bool:
        """Replace the register with the backup's (asked first unless `confirm` is False)."""
        backup, db_path = Path(backup), self.ctx.db_path
        if self.host.busy or not self.ctx.tasks.idle:
            return self._refuse("Restore", "Wait until the work running in the background has finished, "
                                           "then restore the backup.")
        if confirm and not confirm_restore(self, backup, db_path):
            return False
        try:
            before = restore_database(backup, db_path)
            reopen_database(self.ctx)
        except RollcallError as exc:
            self.ctx.notifier.exception("Restore", exc)
            self.show_database()
            return False
        kept = f"; the register it replaced was backed up as {before.name}" if before is not None else ""
        self.ctx.notifier.info("Restore", f"the register was restored from {backup.name}{kept}")
        self.show_database()
        return True
