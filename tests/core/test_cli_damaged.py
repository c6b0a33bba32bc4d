"""The CLI on a damaged database: a clear message and exit code 2, never a traceback; backup and restore."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from tests.conftest import shared_path
from tests.core.test_backup import build_register, damage_pages, snapshot

REPO = Path(__file__).resolve().parents[2]


def rollcall(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "core.cli", *argv], capture_output=True, text=True, env=env,
                          timeout=120, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("first_page", [False, True], ids=["interior-pages", "with-page-1"])
def test_people_and_enroll_on_a_damaged_database(tmp_path: Path, first_page: bool) -> None:
    photo = shared_path("faces", "misc", "obama.jpg")
    path = tmp_path / "damaged.db"
    build_register(path)
    damage_pages(path, seed=1, include_first=first_page)
    for argv in (["people"], ["enroll", "Barack Obama", str(photo)]):
        done = rollcall("--db", str(path), *argv)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr + done.stdout
        assert str(path) in done.stderr and "damaged" in done.stderr
        assert "rollcall restore" in done.stderr and "backup" in done.stderr


def test_a_query_that_meets_damage_after_the_check_is_explained(tmp_path: Path, capsys, monkeypatch) -> None:
    """A damaged page met by a later query (a check cut short on a huge file) is explained as well."""
    import core.storage.db

    path = tmp_path / "damaged.db"
    build_register(path)
    conn = sqlite3.connect(path)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'people'").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * page_size:root * page_size] = bytes(range(256)) * (page_size // 256)  # the people table
    path.write_bytes(bytes(data))
    monkeypatch.setattr(core.storage.db.Database, "_quick_check", lambda self, seconds: None)  # as if cut short at once
    assert main(["--db", str(path), "people", "list"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "damaged" in err and "Traceback" not in err


def test_backup_list_and_restore_commands(tmp_path: Path, capsys) -> None:
    path = tmp_path / "rollcall.db"
    ids = build_register(path, people=4)
    conn = sqlite3.connect(path)
    before = snapshot(conn)
    conn.close()

    assert main(["--db", str(path), "backup"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("backup written: ") and str(tmp_path / "backups") in out
    backup = Path(out.split("backup written: ")[1].split(" (")[0])
    assert main(["--db", str(path), "backup", "--list"]) == 0
    assert str(backup) in capsys.readouterr().out

    assert main(["--db", str(path), "people", "delete", str(ids[0]), "--yes"]) == 0
    assert main(["--db", str(path), "restore", str(backup)]) == 1  # not a terminal and no --yes: nothing done
    capsys.readouterr()
    assert main(["--db", str(path), "restore", str(backup), "--yes"]) == 0
    out = capsys.readouterr().out
    assert "restored" in out and "before-restore" in out
    conn = sqlite3.connect(path)
    assert snapshot(conn) == before
    conn.close()

    notes = tmp_path / "notes.txt"
    notes.write_text("not a backup")
    assert main(["--db", str(path), "restore", str(notes), "--yes"]) == 2
    assert "not a Rollcall database backup" in capsys.readouterr().err


def test_any_sqlite_error_escaping_a_command_is_explained(tmp_path: Path, capsys, monkeypatch) -> None:
    import core.cli.storage_cmds as storage_cmds

    def damaged(folder):
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(storage_cmds, "list_backups", damaged)
    path = tmp_path / "r.db"
    assert main(["--db", str(path), "backup", "--list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: The database {path} is damaged") and "rollcall restore" in err
