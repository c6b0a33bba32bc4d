from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

import logging
import sys

from core.storage.db import (
    SCHEMA_VERSION, Database, DatabaseDamagedError, DatabaseError, DatabaseLockedError, DatabaseVersionError,
    explain_database_error,
)
from core.protected_files import ProtectedFileError, ensure_not_database_file
from core.errors import RollcallError
from tests.core.test_backup import build_register, damage_pages


def test_new_database_is_migrated_and_uses_wal(tmp_path: Path) -> None:
    with Database(tmp_path / "r.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"people", "samples", "embeddings", "templates", "models", "sessions", "marks", "audit"} <= tables


def test_reopening_keeps_data(tmp_path: Path) -> None:
    with Database(tmp_path / "r.db") as db:
        db.set_setting("k", "v")
    with Database(tmp_path / "r.db") as db:
        assert db.get_setting("k") == "v"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(DatabaseVersionError, match="newer Rollcall") as err:
        Database(path)
    assert str(path) in str(err.value)


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    with Database(tmp_path / "r.db") as db:
        with pytest.raises(RuntimeError):
            with db.transaction() as conn:
                db.set_setting("a", "1", conn)
                raise RuntimeError("boom")
        assert db.get_setting("a") is None


def test_locked_database_gives_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    Database(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with Database(path, timeout=0.1) as db:
            with pytest.raises(DatabaseLockedError, match="locked by another program"):
                with db.transaction():
                    pass
    finally:
        other.execute("ROLLBACK")
        other.close()


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_database_gives_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    Database(path).close()
    path.chmod(stat.S_IRUSR)
    with pytest.raises(DatabaseError, match="read-only"):
        with Database(path) as db:
            with db.transaction() as conn:
                db.set_setting("x", "y", conn)


def test_read_only_connection_gives_a_clear_message(tmp_path: Path) -> None:
    """The same message when SQLite itself opens the file read-only (works even as root)."""
    path = tmp_path / "r.db"
    Database(path).close()
    db = Database(path)
    db.conn.close()
    db.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    with pytest.raises(DatabaseError, match="read-only"):
        with db.transaction() as conn:
            db.set_setting("x", "y", conn)
    db.close()


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database" * 200)
    with pytest.raises(DatabaseDamagedError, match="not a Rollcall database") as err:
        Database(path)
    assert str(path) in str(err.value) and "rollcall restore" in str(err.value)


def test_transaction_reports_the_original_error_when_sqlite_rolled_back_itself(tmp_path: Path) -> None:
    """SQLite ends the transaction itself on some errors (disk I/O, disk full); a ROLLBACK then fails
    with "cannot rollback - no transaction is active", which must not hide the real error."""
    with Database(tmp_path / "r.db") as db:
        with pytest.raises(DatabaseError) as err:
            with db.transaction() as conn:
                db.set_setting("a", "1", conn)
                conn.execute("ROLLBACK")  # what SQLite did on its own
                raise sqlite3.OperationalError("disk I/O error")
        assert "disk I/O error" in str(err.value) and "cannot rollback" not in str(err.value)
        assert str(db.path) in str(err.value)
        assert not db.conn.in_transaction and db.get_setting("a") is None
        with pytest.raises(RuntimeError, match="boom"):  # any other error passes through unchanged
            with db.transaction() as conn:
                conn.execute("ROLLBACK")
                raise RuntimeError("boom")


def test_a_failing_commit_reports_its_own_error_and_rolls_back(tmp_path: Path) -> None:
    with Database(tmp_path / "r.db") as db:
        with pytest.raises(DatabaseError, match="FOREIGN KEY constraint failed") as err:
            with db.transaction() as conn:
                conn.execute("PRAGMA defer_foreign_keys = ON")  # the check moves to COMMIT
                db.set_setting("b", "2", conn)
                conn.execute("INSERT INTO samples(person_id, face_jpeg, landmarks, face_size, sharpness, yaw, "
                             "det_score, source, captured_at) VALUES (999, x'00', '[]', 1, 1, 0, 1, 't', 'now')")
        assert "cannot rollback" not in str(err.value)
        assert not db.conn.in_transaction and db.get_setting("b") is None


@pytest.mark.parametrize("first_page", [False, True])
def test_a_damaged_file_is_refused_on_open(tmp_path: Path, first_page: bool) -> None:
    path = tmp_path / "r.db"
    build_register(path)
    damage_pages(path, seed=5, include_first=first_page)
    with pytest.raises(DatabaseDamagedError) as err:
        Database(path)
    text = str(err.value)
    assert str(path) in text and "Restore a backup" in text and str(tmp_path / "backups") in text


def test_a_cut_short_check_is_not_damage(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "r.db"
    with Database(path) as db:
        with db.transaction() as conn:
            conn.executemany("INSERT INTO settings VALUES (?, ?)", ((f"k{i}", "v" * 20) for i in range(50_000)))
    with caplog.at_level(logging.INFO, logger="core.storage.db"):
        with Database(path, check_seconds=0.0) as db:
            assert db.get_setting("k49999") == "v" * 20
    assert "cut short" in caplog.text


def test_every_sqlite_error_is_explained_with_the_file() -> None:
    for message, kind, words in (("database disk image is malformed", DatabaseDamagedError, "is damaged"),
                                 ("file is not a database", DatabaseDamagedError, "not a Rollcall database"),
                                 ("database is locked", DatabaseLockedError, "locked by another program"),
                                 ("disk I/O error", DatabaseError, "disk I/O error"),
                                 ("database or disk is full", DatabaseError, "Free some space")):
        err = explain_database_error(sqlite3.DatabaseError(message), "/data/rollcall.db")
        assert type(err) is kind and words in str(err) and "/data/rollcall.db" in str(err)
        assert isinstance(err, RollcallError)


def test_the_open_database_files_are_protected(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    other = tmp_path / "photo.jpg"
    other.write_bytes(b"x")
    db = Database(path)
    db.set_setting("k", "v")
    assert Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
    os.link(path, tmp_path / "alias.db")
    for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal", f"{path}.lock",
                 tmp_path / "sub" / ".." / "r.db", tmp_path / "alias.db"):
        with pytest.raises(ProtectedFileError, match="choose another file as an image"):
            ensure_not_database_file(name, "an image")
    with pytest.raises(ProtectedFileError, match=r"is Rollcall's database;"):
        ensure_not_database_file(path, "an image")
    ensure_not_database_file(other, "an image")
    ensure_not_database_file(tmp_path / "r2.db", "an image")
    db.close()
    ensure_not_database_file(path, "an image")  # closed: no longer this process's database


def _posix_locks(inodes: set[int]) -> list[tuple[str, ...]]:
    out = []
    with open("/proc/locks") as fh:
        for line in fh:
            f = line.split()
            if f[1] == "POSIX" and f[4] == str(os.getpid()) and int(f[5].split(":")[-1]) in inodes:
                out.append((f[3], f[5], f[6], f[7]))
    return sorted(out)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/locks is Linux")
def test_readers_refuse_the_database_without_dropping_its_locks(tmp_path: Path) -> None:
    from core.vision.imageio import read_image
    from core.attendance.sources import FrameSource
    from core.vision.models.checkpoint import save_atomic
    from core.vision.models.loading import load_model

    path = tmp_path / "r.db"
    db = Database(path)
    db.set_setting("k", "v")
    inodes = {os.stat(f"{path}{s}").st_ino for s in ("", "-shm")}
    held = _posix_locks(inodes)
    assert held, "an open WAL connection holds POSIX locks"
    for read in (lambda p: read_image(p), lambda p: load_model(p), lambda p: FrameSource(str(p)).open(),
                 lambda p: save_atomic({}, p)):
        for name in (path, Path(f"{path}-shm"), Path(f"{path}-wal")):
            with pytest.raises(ProtectedFileError):
                read(name)
    assert _posix_locks(inodes) == held  # still locked: nothing opened (and closed) the files
    open(path, "rb").close()  # what the refusals prevent: closing any descriptor drops them
    assert _posix_locks(inodes) != held
    db.close()


def _v1_register(path: Path) -> None:
    """A database as Rollcall wrote it at schema 1: a session with an automatic and a manual mark."""
    import core.storage.db as db_mod

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    db_mod.MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO people(id, name, created_at, updated_at) VALUES (1, 'Ada', 'then', 'then'),"
                 " (2, 'Bo', 'then', 'then')")
    conn.execute("INSERT INTO sessions(id, name, started_at) VALUES (1, 'Maths', '2024-01-01T09:00:00')")
    conn.execute("INSERT INTO marks(session_id, person_id, person_name, marked_at, score, source)"
                 " VALUES (1, 1, 'Ada', '2024-01-01T09:01:00', 0.9412, 'camera 0')")
    conn.execute("INSERT INTO marks(session_id, person_id, person_name, marked_at, source, manual, operator, reason)"
                 " VALUES (1, 2, 'Bo', '2024-01-01T09:02:00', 'manual', 1, 'ms. k', 'late bus')")
    conn.execute("COMMIT")
    conn.close()


def test_a_v1_database_migrates_to_the_current_schema_keeping_its_marks(tmp_path: Path) -> None:
    from core.attendance.marks import Attendance
    from core.storage.backup import list_backups

    path = tmp_path / "r.db"
    _v1_register(path)
    with Database(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert "confidence" in [r[1] for r in db.execute("PRAGMA table_info(marks)")]
        att = Attendance(db)
        kept = att.marks(1)
        assert [(m.person_name, m.score, m.manual, m.confidence) for m in kept] == [
            ("Ada", 0.9412, False, None), ("Bo", None, True, None)]  # older marks have no confidence
        assert kept[1].operator == "ms. k" and kept[1].reason == "late bus"
        s = att.start_session("Art")
        assert att.mark(s.id, 1, "Ada", score=0.95, confidence=81).confidence == 81
    assert [b.reason for b in list_backups(tmp_path / "backups")] == ["before-migration"]
    with Database(path) as db:  # migrated once: reopening changes nothing
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert len(Attendance(db).marks()) == 3
    assert len(list_backups(tmp_path / "backups")) == 1
