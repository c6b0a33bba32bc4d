"""Every file dialog of the app leaves the app's SQLite locks in place (Linux).

Closing any descriptor of a file drops every POSIX lock the process holds on it, and SQLite locks
with POSIX locks; Qt's own file dialog reads each listed file to name its type. Each dialog of the app
is opened over the data folder (QFileDialog.exec / open replaced by a non-modal show that lets the
file model populate), then /proc/locks must still show this process's locks on rollcall.db and its
-shm file, and another process opening and closing the database must not delete the WAL under us.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QFileDialog

from desktop.database_dialogs import BackupChooser
from desktop.dialogs import SuffixIconProvider
from desktop.main_window import MainWindow
from desktop.pages.training.form import SOURCE_FOLDER, SOURCE_MANIFEST
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="Linux's POSIX lock semantics, read from /proc/locks")

BOTH = {"rollcall.db", "rollcall.db-shm"}


def held_locks(db_path: Path) -> set[str]:
    """Which of the database and its -shm file this process holds a POSIX lock on (by inode)."""
    names = {os.stat(f"{db_path}{suffix}").st_ino: db_path.name + suffix for suffix in ("", "-shm")}
    found = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()  # "1: POSIX  ADVISORY  READ 1234 08:01:5678 0 EOF" ("->" marks a waiter)
        if "->" in fields or fields[1] != "POSIX" or int(fields[4]) != os.getpid():
            continue
        inode = int(fields[5].split(":")[2])
        if inode in names:
            found.add(names[inode])
    return found


class DialogDriver:
    """Stands in for QFileDialog.exec and .open: shows the dialog over `folder` without blocking,
    lets its file model list the folder for `seconds`, then cancels it."""

    def __init__(self, folder: Path, seconds: float = 0.5) -> None:
        self.folder, self.seconds = folder, seconds
        self.shown: list[tuple[str, bool]] = []  # (title, uses the suffix-only icon provider)

    def __call__(self, dialog: QFileDialog) -> int:
        dialog.setDirectory(str(self.folder))
        dialog.show()
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            QApplication.processEvents()
            time.sleep(0.01)
        self.shown.append((dialog.windowTitle(), isinstance(dialog.iconProvider(), SuffixIconProvider)))
        dialog.reject()
        return 0


def other_process(db_path: Path, sql: str) -> list[tuple]:
    """Open the database in another process, run `sql`, close it (the last closer deletes the WAL
    when it can take the database's exclusive lock)."""
    code = ("import sqlite3, sys\nconn = sqlite3.connect(sys.argv[1])\n"
            "print(repr(conn.execute(sys.argv[2]).fetchall()))\nconn.close()\n")
    out = subprocess.run([sys.executable, "-c", code, str(db_path), sql], capture_output=True, text=True,
                         timeout=30, check=True)
    return eval(out.stdout)  # noqa: S307 - our own repr of a list of tuples


def test_no_file_dialog_outside_desktop_dialogs() -> None:
    """Qt's static pickers (getOpenFileName...) cannot be given the safe icon provider: every file
    dialog of the app is made by desktop/dialogs.py."""
    found = [f"{p.relative_to(REPO)}:{n}" for p in sorted((REPO / "desktop").rglob("*.py")) if p.name != "dialogs.py"
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if "QFileDialog" in line]
    assert found == []


def test_every_file_dialog_keeps_the_database_locks(ctx, qtbot, monkeypatch) -> None:
    db_path = ctx.db_path
    folder = db_path.parent
    driver = DialogDriver(folder)
    monkeypatch.setattr(QFileDialog, "exec", lambda dialog: driver(dialog))
    monkeypatch.setattr(QFileDialog, "open", lambda dialog: driver(dialog))
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    with ctx.db.transaction() as conn:
        person_id = conn.execute("INSERT INTO people(name, created_at, updated_at) VALUES ('Ada', 'x', 'x')").lastrowid
    ctx.gallery_changed.emit()
    assert window.people.select_person(person_id)
    assert held_locks(db_path) == BOTH

    settings, form = window.settings, window.training.job_form

    def training_data(source: str) -> None:
        form.source_combo.setCurrentIndex(form.source_combo.findData(source))
        form._browse_data()

    def enrol_photos() -> None:
        wizard = window.people.open_enrol_wizard()
        wizard.import_button.click()
        wizard.reject()

    def backup_other_file(chooser: BackupChooser) -> int:
        chooser.other_button.click()
        return 0

    monkeypatch.setattr(BackupChooser, "exec", backup_other_file)
    ctx.service.add_to_group(ctx.service.create_group("Band").id, [person_id])
    ended = ctx.service.stop_session(ctx.service.start_session("Ended", "Band").id)

    def summary_export() -> None:
        window.live.show_summary(ctx.service.register(ended.id)).export_button.click()

    def group_report_file() -> None:
        window.attendance.ask_group_report()
        window.attendance.register_pane.dialog.browse_button.click()

    triggers = {
        "People: add photos": window.people.add_samples_button.click,
        "Enrol: photos": enrol_photos,
        "Live: choose a video": window.live._browse,
        "Settings: model weights": settings.model_file_button.click,
        "Settings: video file": settings.source_group._browse_source,
        "Settings: YuNet model": settings.detector_group._browse_yunet,
        "Settings: DSR model": settings.small_faces_group._browse_sr_model,
        "Settings: data folder": settings.general_group._browse_data_folder,
        "Settings: restore, other file": settings.database_group.restore_button.click,
        "Training: manifest": lambda: training_data(SOURCE_MANIFEST),
        "Training: data folder": lambda: training_data(SOURCE_FOLDER),
        "Training: embedder": form._browse_embedder,
        "Training: model to fine-tune": form._browse_base,
        "Training: DSR checkpoint": form._browse_sr,
        "Training: pairs folder": form._browse_benchmark,
        "Training: output folder": form._browse_out,
        "Attendance: export": window.attendance.export_button.click,
        "Session summary: export the register": summary_export,
        "Attendance: group report file": group_report_file,
    }
    for what, trigger in triggers.items():
        before = len(driver.shown)
        trigger()
        assert len(driver.shown) == before + 1, f"{what}: no file dialog was shown"
        assert driver.shown[-1][1], f"{what}: {driver.shown[-1][0]} reads the files it lists"
        assert held_locks(db_path) == BOTH, f"{what}: the database locks were dropped"

    wal = Path(f"{db_path}-wal")
    wal_inode = wal.stat().st_ino
    assert other_process(db_path, "SELECT count(*) FROM people") == [(1,)]
    assert wal.exists() and wal.stat().st_ino == wal_inode, "the other process deleted the WAL under the app"
    ctx.service.start_session("After the dialogs")
    assert ("After the dialogs",) in other_process(db_path, "SELECT name FROM sessions")
    assert wal.stat().st_ino == wal_inode
    window.shutdown()


def test_a_plain_file_dialog_drops_the_locks(ctx, qtbot) -> None:
    """The hazard these tests guard against: Qt's default icon provider reads every listed file, and
    closing it drops the process's locks; another process then deletes the WAL under the app."""
    db_path = ctx.db_path
    ctx.attendance.sessions()
    assert held_locks(db_path) == BOTH
    dialog = QFileDialog(None, "Plain", str(db_path.parent))
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    qtbot.addWidget(dialog)
    DialogDriver(db_path.parent)(dialog)
    assert held_locks(db_path) == set()
    other_process(db_path, "SELECT count(*) FROM sessions")
    assert not Path(f"{db_path}-wal").exists()
