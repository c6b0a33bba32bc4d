from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from core.storage.db import SCHEMA_VERSION, Database, DatabaseError, DatabaseLockedError, DatabaseVersionError


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
    with pytest.raises(DatabaseError, match="not a Rollcall database"):
        Database(path)
