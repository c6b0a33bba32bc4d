"""Backups: written through the backup API, listed, pruned, and restored into the live file."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import core.storage.backup as backup_mod
import core.storage.db as db_mod
from core.attendance.marks import Attendance
from core.storage.backup import (
    BackupError, backup_database, check_backup, daily_backup, list_backups, restore_database,
)
from core.storage.db import SCHEMA_VERSION, Database, DatabaseDamagedError
from core.gallery.store import Gallery
from core.storage.instance_lock import AlreadyOpenError

REPO = Path(__file__).resolve().parents[2]


def build_register(path: Path, people: int = 30, seed: int = 0) -> list[int]:
    """A database with a model, people with samples and embeddings, sessions and marks (plain SQL and
    the Attendance API); returns the people's ids. Closed, so its WAL is folded into the file."""
    rng = np.random.default_rng(seed)
    with Database(path) as db:
        with db.transaction() as conn:
            model_id = conn.execute(
                "INSERT INTO models(name, arch, file_hash, source, dim, threshold, created_at)"
                " VALUES ('tiny', 'edgeface', 'abc123', 'tiny.pt', 8, 0.5, '2026-01-01T09:00:00')").lastrowid
            ids = []
            for i in range(people):
                pid = conn.execute(
                    "INSERT INTO people(name, created_at, updated_at) VALUES (?, ?, ?)",
                    (f"Person {i}", "2026-01-01T09:00:00", "2026-01-01T09:00:00")).lastrowid
                ids.append(pid)
                for _ in range(2):
                    sid = conn.execute(
                        "INSERT INTO samples(person_id, face_jpeg, landmarks, face_size, sharpness, yaw, det_score,"
                        " source, captured_at) VALUES (?, ?, '[]', 120, 80, 0, 0.99, 'test', '2026-01-01')",
                        (pid, rng.integers(0, 256, 1500, dtype=np.uint8).tobytes())).lastrowid
                    conn.execute("INSERT INTO embeddings VALUES (?, ?, ?)",
                                 (sid, model_id, rng.normal(size=8).astype(np.float32).tobytes()))
                conn.execute("INSERT INTO templates VALUES (?, ?, ?, 2, '2026-01-01')",
                             (pid, model_id, rng.normal(size=8).astype(np.float32).tobytes()))
        att = Attendance(db)
        for s in range(3):
            session = att.start_session(f"Lesson {s}")
            for pid in ids[s::2]:
                att.mark(session.id, pid, f"Person {pid - ids[0]}", score=0.8, source="cam")
            if not att.is_marked(session.id, ids[1]):
                att.manual_mark(session.id, ids[1], "Person 1", operator="ms. k", reason="late bus")
            att.stop_session(session.id)
    return ids


def snapshot(conn: sqlite3.Connection) -> dict[str, list[tuple]]:
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall() for t in tables}


def damage_pages(path: Path, seed: int, count: int = 4, include_first: bool = False) -> list[int]:
    """Overwrite `count` seeded random pages, plus the first interior b-tree page, with garbage."""
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    pages = len(data) // page_size
    interior = [n for n in range(2, pages + 1) if data[(n - 1) * page_size] in (0x02, 0x05)]
    assert interior, "the test database should have interior b-tree pages"
    rnd = random.Random(seed)
    chosen = sorted(set(rnd.sample(range(2, pages + 1), count)) | {interior[0]} | ({1} if include_first else set()))
    for n in chosen:
        data[(n - 1) * page_size:n * page_size] = rnd.randbytes(page_size)
    path.write_bytes(bytes(data))
    return chosen


def test_backup_and_restore_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "rollcall.db"
    ids = build_register(path)
    db = Database(path)
    before = snapshot(db.conn)
    assert before["marks"] and before["people"] and before["embeddings"]
    saved = backup_database(db, "manual")
    assert saved.parent == tmp_path / "backups" and saved.name.endswith("-manual.db")
    assert not Path(f"{saved}-wal").exists()  # one self-contained file

    att = Attendance(db)
    session = att.start_session("After the backup")
    att.mark(session.id, ids[3], "Person 3")
    Gallery(db).delete_person(ids[0], erase_history=True)
    changed = snapshot(db.conn)
    assert changed != before

    previous = restore_database(saved, path)
    assert snapshot(db.conn) == before  # the open connection sees the restored register
    db.close()
    with Database(path) as again:
        assert snapshot(again.conn) == before
    assert previous is not None and "before-restore" in previous.name
    conn = sqlite3.connect(previous)
    assert snapshot(conn) == changed  # the register as it was before the restore is kept
    conn.close()


def test_names_are_unique_and_listed_newest_first(tmp_path: Path) -> None:
    with Database(tmp_path / "r.db") as db:
        made = [backup_database(db, "manual") for _ in range(3)]
    assert len(set(made)) == 3
    listed = list_backups(tmp_path / "backups")
    assert [b.path for b in listed] == made[::-1]
    assert all(b.reason == "manual" and b.size > 0 for b in listed)
    assert not [p for p in (tmp_path / "backups").iterdir() if p.suffix == ".tmp"]


def test_automatic_backups_are_pruned_manual_ones_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backup_mod, "KEEP_AUTOMATIC", 3)
    with Database(tmp_path / "r.db") as db:
        manual = [backup_database(db, "manual") for _ in range(4)]
        daily = [backup_database(db, "daily") for _ in range(5)]
        promo = backup_database(db, "before-promotion")
    left = {b.path for b in list_backups(tmp_path / "backups")}
    assert left == set(manual) | set(daily[-3:]) | {promo}


def test_daily_backup_once_a_calendar_day(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / "rollcall-20200101-120000-daily.db").write_bytes(b"old")  # another day: does not count
    with Database(tmp_path / "r.db") as db:
        first = daily_backup(db)
        assert first is not None and first.exists()
        assert daily_backup(db) is None
    assert len([b for b in list_backups(folder) if b.reason == "daily"]) == 2


def test_migration_takes_a_backup_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.db"
    build_register(path, people=3)
    extra = [lambda conn: conn.execute("ALTER TABLE people ADD nick TEXT")]
    monkeypatch.setattr(db_mod, "MIGRATIONS", [*db_mod.MIGRATIONS, *extra])
    monkeypatch.setattr(db_mod, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with Database(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        migrated_people = db.execute("SELECT count(*) FROM people").fetchone()[0]
    backups = list_backups(tmp_path / "backups")
    assert [b.reason for b in backups] == ["before-migration"]
    conn = sqlite3.connect(backups[0].path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION  # taken before the step
    assert "nick" not in [r[1] for r in conn.execute("PRAGMA table_info(people)")]
    assert conn.execute("SELECT count(*) FROM people").fetchone()[0] == migrated_people == 3
    conn.close()


def test_a_new_database_is_not_backed_up(tmp_path: Path) -> None:
    Database(tmp_path / "r.db").close()
    assert not (tmp_path / "backups").exists()


def test_restore_refuses_bad_backups(tmp_path: Path) -> None:
    path = tmp_path / "rollcall.db"
    build_register(path, people=5)
    notes = tmp_path / "notes.db"
    notes.write_bytes(b"not a database at all " * 300)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t(x)").connection.close()
    with Database(path) as db:
        good = backup_database(db, "manual")
    newer = tmp_path / "newer.db"
    newer.write_bytes(good.read_bytes())
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(good.read_bytes())
    damage_pages(damaged, seed=3)

    original = path.read_bytes()
    for bad, message in ((notes, "not a Rollcall database"), (other, "not a Rollcall database"),
                         (newer, "newer Rollcall"), (damaged, "damaged"), (tmp_path / "none.db", "does not exist")):
        with pytest.raises(BackupError, match=message) as err:
            restore_database(bad, path)
        assert str(bad) in str(err.value)
    assert path.read_bytes() == original


def test_restore_repairs_a_damaged_database(tmp_path: Path) -> None:
    path = tmp_path / "rollcall.db"
    build_register(path)
    with Database(path) as db:
        good = backup_database(db, "manual")
        before = snapshot(db.conn)
    for first in (False, True):
        damage_pages(path, seed=7, include_first=first)
        with pytest.raises(DatabaseDamagedError):
            Database(path)
        assert restore_database(good, path) is None  # nothing readable to back up first
        with Database(path) as db:
            assert snapshot(db.conn) == before


def test_restore_refused_while_another_process_has_it_open(tmp_path: Path) -> None:
    path = tmp_path / "rollcall.db"
    build_register(path, people=2)
    good = backup_database(path, "manual")
    code = ("import sys, time; from core.storage.instance_lock import InstanceLock; "
            f"InstanceLock({str(path)!r}).acquire(); print('ready', flush=True); time.sleep(60)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "ready"
        with pytest.raises(AlreadyOpenError, match=f"process {proc.pid}"):
            restore_database(good, path)
    finally:
        proc.kill()
        proc.wait()
    restore_database(good, path)  # the lock died with its process


def test_backup_of_a_damaged_file_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "rollcall.db"
    build_register(path)
    damage_pages(path, seed=11)
    with pytest.raises(BackupError, match="damaged"):
        backup_database(path, "manual")
    assert list((tmp_path / "backups").iterdir()) == []


def test_check_backup_gives_the_schema_version(tmp_path: Path) -> None:
    with Database(tmp_path / "r.db") as db:
        assert check_backup(backup_database(db, "manual")) == SCHEMA_VERSION


def test_a_backup_inside_a_transaction_holds_only_committed_changes(tmp_path: Path) -> None:
    with Database(tmp_path / "r.db") as db:
        db.set_setting("committed", "yes")
        with db.transaction() as conn:
            db.set_setting("pending", "yes", conn)
            saved = backup_database(db, "before-promotion")
    conn = sqlite3.connect(saved)
    assert dict(conn.execute("SELECT key, value FROM settings").fetchall()) == {"committed": "yes"}
    conn.close()
