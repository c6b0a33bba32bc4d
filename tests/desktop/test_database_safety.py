"""The app and its database: one window per database, a database that cannot be opened at start
(restore a backup, open another, quit), database errors while running, backups from Settings."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

import desktop.app as app_module
import desktop.database_dialogs as database_dialogs
from core.attendance.marks import Attendance
from core.storage.backup import backup_database, list_backups
from core.storage.db import Database, DatabaseDamagedError
from core.storage.instance_lock import AlreadyOpenError, InstanceLock
from core.service.operations import LEFT_OPEN_KEY
from desktop.app import EXIT_ALREADY_OPEN, EXIT_CANNOT_OPEN, install_excepthook, main, open_context
from desktop.config import DesktopConfig
from desktop.database_dialogs import BackupChooser
from desktop.main_window import MainWindow
from desktop.notifier import Notifier
from tests.conftest import REPO
from tests.core.test_backup import build_register, damage_pages


class Answers:
    """Stands in for QMessageBox.exec: records each question and clicks the button named next."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *buttons: str) -> None:
        self.buttons = list(buttons)
        self.asked: list[str] = []
        monkeypatch.setattr(QMessageBox, "exec", lambda box: self.answer(box))

    def answer(self, box: QMessageBox) -> int:
        self.asked.append(f"{box.text()}\n{box.informativeText()}")
        wanted = self.buttons.pop(0)
        next(b for b in box.buttons() if b.text() == wanted).click()
        return 0


def damaged_register(folder: Path) -> Path:
    """A register with a manual backup, a session added after it, then pages overwritten."""
    path = folder / "rollcall.db"
    build_register(path)
    backup_database(path, "manual")
    with Database(path) as db:
        Attendance(db).start_session("After the backup")
    damage_pages(path, seed=3)
    return path


# ------------------------------------------------------------------ one window per database

HOLD = """
import sys
from core.storage.instance_lock import AlreadyOpenError, InstanceLock
from core.service.operations import LEFT_OPEN_KEY
lock = InstanceLock(sys.argv[1]).acquire()
print("held", flush=True)
sys.stdin.read()
"""


def test_a_second_window_on_the_database_is_refused_without_opening_it(tmp_path: Path, qapp, monkeypatch) -> None:
    path = tmp_path / "rollcall.db"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        said: list[str] = []
        monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *a: said.append(text))
        monkeypatch.setattr(app_module, "setup_logging", lambda: None)
        code = main(["--db", str(path)])
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert code == EXIT_ALREADY_OPEN != 0
    assert len(said) == 1 and said[0].startswith(f"Rollcall is already open on {path} (process {holder.pid} on ")
    assert said[0].endswith("Switch to that window or close it first.")
    assert not path.exists(), "the database was opened"


def test_a_new_data_folder_takes_its_database_lock_first(tmp_path: Path, qapp, monkeypatch) -> None:
    from desktop.app_database import LockedContext
    from desktop.tasks import TaskRunner

    first = DesktopConfig(data_folder=str(tmp_path / "a"))
    notifier = Notifier()
    ctx = LockedContext(first, notifier, TaskRunner(notifier), InstanceLock(first.db_path).acquire(),
                        config_file=tmp_path / "desktop.json")
    monkeypatch.setattr(ctx, "load_engine", lambda: None)  # the models are not the subject
    other = InstanceLock(tmp_path / "b" / "rollcall.db").acquire()  # "another window" on b
    try:
        with pytest.raises(AlreadyOpenError):
            ctx.update_config(data_folder=str(tmp_path / "b"))
        assert ctx.db_path == first.db_path and ctx.instance_lock.held and not (tmp_path / "b" / "rollcall.db").exists()
        ctx.update_config(data_folder=str(tmp_path / "c"))
        assert ctx.db_path == tmp_path / "c" / "rollcall.db" and ctx.instance_lock.db_path == ctx.db_path
        InstanceLock(first.db_path).acquire().release()  # a's lock went with the switch
    finally:
        other.release()
        ctx.close()
    assert not ctx.instance_lock.held


# ------------------------------------------------------------------ a database that cannot be opened

START_PROBE = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from desktop.app import main
from desktop.database_dialogs import BackupChooser
from desktop.main_window import MainWindow

def step():
    for w in QApplication.topLevelWidgets():
        if not w.isVisible():
            continue
        if isinstance(w, QMessageBox) and w.windowTitle() == "Rollcall cannot open the database":
            print("DIALOG:", w.text(), w.informativeText().replace("\\n", " "), flush=True)
            print("ALIVE", flush=True)
            next(b for b in w.buttons() if b.text() == "Restore a backup…").click()
            return
        if isinstance(w, BackupChooser):
            print("BACKUPS:", w.list.count(), flush=True)
            w.accept()
            return
        if isinstance(w, MainWindow):
            print("SESSIONS:", sorted(s.name for s in w.ctx.attendance.sessions()), flush=True)
            print("ROWS:", w.attendance.sessions_model.rowCount(), flush=True)
            timer.stop()
            QApplication.instance().quit()
            return

app = QApplication(sys.argv[:1])
timer = QTimer()
timer.timeout.connect(step)
timer.start(200)
sys.exit(main(sys.argv[1:]))
"""


def test_a_damaged_database_at_start_is_restored_from_a_listed_backup(tmp_path: Path) -> None:
    """The real entry point in its own process: the dialog names the file while the process lives on;
    restoring the listed backup opens the main window on the restored register."""
    path = damaged_register(tmp_path)
    env = {**os.environ, "ROLLCALL_DATA_DIR": str(tmp_path / "user"), "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", START_PROBE, "--db", str(path)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    dialog = next(line for line in lines if line.startswith("DIALOG:"))
    assert str(path) in dialog and "damaged" in dialog and "The newest backup is from" in dialog
    assert "ALIVE" in lines and "BACKUPS: 1" in lines
    assert "SESSIONS: ['Lesson 0', 'Lesson 1', 'Lesson 2']" in lines and "ROWS: 3" in lines


def test_quit_or_open_another_database_when_it_cannot_be_opened(tmp_path: Path, qapp, monkeypatch) -> None:
    path = damaged_register(tmp_path)
    config = DesktopConfig(data_folder=str(tmp_path / "user"))
    answers = Answers(monkeypatch, "Quit")
    assert open_context(config, Notifier(), path) == EXIT_CANNOT_OPEN
    assert str(path) in answers.asked[0] and "damaged" in answers.asked[0]
    InstanceLock(path).acquire().release()  # quitting released the lock

    other = tmp_path / "other" / "fresh.db"
    Answers(monkeypatch, "Open another database…")
    monkeypatch.setattr(database_dialogs, "open_or_new_file", lambda *a: str(other))
    ctx = open_context(config, Notifier(), path)
    try:
        assert ctx.db_path == other and ctx.instance_lock.held and ctx.attendance.sessions() == []
    finally:
        ctx.close()
    InstanceLock(other).acquire().release()


def test_a_database_error_while_running_reaches_the_notifier(ctx, qtbot, monkeypatch) -> None:
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    install_excepthook(ctx.notifier, lambda: ctx.db_path)
    errors = [DatabaseDamagedError(ctx.db_path, "database disk image is malformed"),
              sqlite3.DatabaseError("database disk image is malformed")]
    attendance = ctx.attendance
    for error in errors:
        def fail(*_args, error=error):
            raise error
        attendance.sessions = fail
        try:
            ctx.attendance_changed.emit()  # the pages re-read the sessions
        finally:
            del attendance.sessions
    qtbot.waitUntil(lambda: len([n for n in ctx.notifier.history if n.title == "Database"]) >= 2, timeout=3000)
    shown = [n.text for n in ctx.notifier.history if n.title == "Database"]
    assert all(str(ctx.db_path) in text and "damaged" in text for text in shown), shown
    assert window.isVisible() and window.notifications.isVisible()
    ctx.service.start_session("Still working")
    assert [s.name for s in ctx.attendance.sessions()] == ["Still working"]
    window.shutdown()


# ------------------------------------------------------------------ backups from Settings

def test_back_up_and_restore_from_settings(ctx, qtbot, monkeypatch) -> None:
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    group = window.settings.database_group
    assert group.db_path_label.text() == str(ctx.db_path) and group.last_backup_label.text() == "none yet"
    ctx.service.stop_session(ctx.service.start_session("Kept").id)
    group.backup_button.click()
    qtbot.waitUntil(lambda: group.backup_task.settled, timeout=10000)
    assert [b.reason for b in list_backups(ctx.db_path.parent / "backups")] == ["manual"]
    assert " · made by hand · " in group.last_backup_label.text()

    ctx.service.start_session("After the backup")
    assert window.live.session_combo.findText("After the backup") >= 0
    chosen: list[int] = []

    def pick_newest(chooser: BackupChooser) -> int:
        chosen.append(chooser.list.count())
        return 1

    monkeypatch.setattr(BackupChooser, "exec", pick_newest)
    Answers(monkeypatch, "Cancel", "Restore")
    group.restore_button.click()  # asked, cancelled
    assert "After the backup" in [s.name for s in ctx.attendance.sessions()]
    window.restore_action.trigger()  # File > Restore backup…
    assert chosen == [1, 1]
    assert [s.name for s in ctx.attendance.sessions()] == ["Kept"]
    assert window.live.session_combo.findText("After the backup") < 0
    assert window.attendance.sessions_model.rowCount() == 1
    reasons = sorted(b.reason for b in list_backups(ctx.db_path.parent / "backups"))
    assert reasons == ["before-restore", "manual"]
    assert ctx.engine_ready  # the same model: the pipeline stayed
    assert any(n.title == "Restore" and "restored from" in n.text for n in ctx.notifier.history)
    window.shutdown()


@pytest.mark.parametrize("answer", ["Cancel", "Leave it open", "End session"])
def test_closing_with_a_session_open_asks(ctx, qtbot, monkeypatch, answer: str) -> None:
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    session = ctx.service.start_session("Morning")
    answers = Answers(monkeypatch, answer)
    closed = window.close()
    assert len(answers.asked) == 1 and "“Morning” is still open" in answers.asked[0]
    if answer == "Cancel":
        assert not closed and window.isVisible() and ctx.attendance.session(session.id).open
        Answers(monkeypatch, "End session")
        assert window.close()
        return
    assert closed
    with Database(ctx.db_path) as db:
        assert Attendance(db).session(session.id).open == (answer == "Leave it open")
        assert (db.get_setting(LEFT_OPEN_KEY) is not None) == (answer == "Leave it open")


def test_sessions_left_open_by_a_crash_are_offered_at_start(make_ctx, monkeypatch) -> None:
    ctx = make_ctx()
    ids = [ctx.service.start_session(name).id for name in ("Monday", "Tuesday")]
    answers = Answers(monkeypatch, "Keep them open", "End them all")
    assert database_dialogs.offer_to_end_crashed_sessions(None, ctx) == 0
    assert all(ctx.attendance.session(i).open for i in ids)
    assert database_dialogs.offer_to_end_crashed_sessions(None, ctx) == 2
    assert "2 sessions were left open" in answers.asked[0] and "“Tuesday”, “Monday”" in answers.asked[0]
    assert not any(ctx.attendance.session(i).open for i in ids)
    assert database_dialogs.offer_to_end_crashed_sessions(None, ctx) == 0  # nothing open: nothing asked

    other = make_ctx()
    kept = other.service.start_session("Left on purpose")
    database_dialogs.remember_left_open(other, [kept])  # "Leave it open" when the window closed
    Answers(monkeypatch)
    assert database_dialogs.offer_to_end_crashed_sessions(None, other) == 0  # not asked (no answer given)
    assert other.service.sessions_left_by_a_crash() == [other.attendance.session(kept.id)]  # forgotten
