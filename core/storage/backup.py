"""Backups of the database, and restoring one.

Copies always go through SQLite's online backup API (never a file copy of a
live database, which can catch it half-written). A backup is written to a
temporary name, checked with quick_check, then renamed to
`<db folder>/backups/rollcall-YYYYmmdd-HHMMSS-<reason>.db`; automatic ones
(every reason but "manual") are pruned to the newest KEEP_AUTOMATIC per reason.
Restoring copies a backup INTO the live file, so open connections see it.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.storage.db import (
    SCHEMA_VERSION, Database, DatabaseDamagedError, DatabaseError, explain_database_error,
    quick_check_problems,
)
from core.protected_files import open_count
from core.storage.instance_lock import InstanceLock, held_here

logger = logging.getLogger(__name__)

BACKUP_FOLDER = "backups"
KEEP_AUTOMATIC = 14  # newest automatic backups kept per reason (daily, before-migration, ...)
MANUAL = "manual"
_NAME = re.compile(r"^rollcall-(\d{8}-\d{6})(?:-(\d+))?-([a-z][a-z0-9-]*)\.db$")
_REQUIRED_TABLES = {"settings", "people", "samples", "sessions", "marks"}


class BackupError(DatabaseError):
    """A backup cannot be written, read or restored."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    created: datetime
    reason: str
    size: int
    seq: int = 1

    @property
    def automatic(self) -> bool:
        return self.reason != MANUAL


def backup_folder(db_path: str | Path) -> Path:
    return Path(db_path).parent / BACKUP_FOLDER


def backup_database(db: Database | str | Path, reason: str, folder: Path | None = None) -> Path:
    """Back up `db` (an open Database, or a database file) as a new file in `folder`
    (default: `backups/` beside the database); returns its path. Prunes old automatic backups."""
    reason = _slug(reason)
    if isinstance(db, Database):
        if db.path is None and folder is None:
            raise BackupError("An in-memory database has no folder for backups; give one.")
        label, folder = db.label, Path(folder) if folder is not None else backup_folder(db.path)
        # inside a transaction the connection would copy its uncommitted changes: read the file instead
        src = _connect(db.path, readonly=True) if db.conn.in_transaction and db.path else db.conn
        try:
            path = _write_backup(src, label, reason, folder)
        finally:
            if src is not db.conn:
                src.close()
    else:
        label, folder = str(db), Path(folder) if folder is not None else backup_folder(db)
        if not Path(db).is_file():
            raise BackupError(f"There is no database {db} to back up.")
        src = _connect(Path(db), readonly=True)
        try:
            path = _write_backup(src, label, reason, folder)
        finally:
            src.close()
    prune_backups(folder)
    return path


def list_backups(folder: str | Path) -> list[BackupInfo]:
    """The backups in `folder` (named as backup_database names them), newest first."""
    found = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return []
    for p in entries:
        m = _NAME.match(p.name)
        if not m or not p.is_file():
            continue
        try:
            created = datetime.strptime(m.group(1), "%Y%m%d-%H%M%S")
            size = p.stat().st_size
        except (ValueError, OSError):
            continue
        found.append(BackupInfo(p, created, m.group(3), size, int(m.group(2) or 1)))
    return sorted(found, key=lambda b: (b.created, b.seq), reverse=True)


def prune_backups(folder: str | Path, keep: int | None = None) -> list[Path]:
    """Delete all but the newest `keep` (KEEP_AUTOMATIC) automatic backups of each reason; manual ones are kept."""
    keep = KEEP_AUTOMATIC if keep is None else keep
    seen: dict[str, int] = {}
    removed = []
    for b in list_backups(folder):
        if not b.automatic:
            continue
        seen[b.reason] = seen.get(b.reason, 0) + 1
        if seen[b.reason] > keep:
            try:
                b.path.unlink()
                removed.append(b.path)
            except OSError as exc:
                logger.warning("cannot delete the old backup %s: %s", b.path, exc)
    return removed


def daily_backup(db: Database, folder: Path | None = None) -> Path | None:
    """A "daily" backup unless one was already made today (by its name's date); its path, or None."""
    if db.path is None and folder is None:
        return None
    folder = folder if folder is not None else backup_folder(db.path)
    today = datetime.now().date()
    if any(b.reason == "daily" and b.created.date() == today for b in list_backups(folder)):
        return None
    return backup_database(db, "daily", folder)


def check_backup(path: str | Path) -> int:
    """Raise BackupError unless `path` is an undamaged Rollcall database this version can open;
    returns its schema version."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"The backup {path} does not exist.")
    try:
        conn = _connect(path, readonly=True)
        try:
            problems = quick_check_problems(conn)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise BackupError(f"The file {path} is not a Rollcall database backup ({exc}). "
                              f"Choose another file.") from None
        raise BackupError(f"The backup {path} is damaged ({exc}). Choose another backup.") from None
    if problems:
        raise BackupError(f"The backup {path} is damaged ({problems}). Choose another backup.")
    if version == 0 or not _REQUIRED_TABLES <= tables:
        raise BackupError(f"The file {path} is not a Rollcall database backup (it has no Rollcall tables). "
                          f"Choose another file.")
    if version > SCHEMA_VERSION:
        raise BackupError(f"The backup {path} was made by a newer Rollcall (schema {version}; this version "
                          f"understands up to {SCHEMA_VERSION}). Update Rollcall to restore it.")
    return version


def restore_database(backup: str | Path, db_path: str | Path) -> Path | None:
    """Replace the register in `db_path` with the backup's. Returns the "before-restore" backup of the
    database as it was (None when it was missing or unreadable)."""
    backup, db_path = Path(backup), Path(db_path)
    check_backup(backup)
    if backup.absolute().resolve() == db_path.absolute().resolve():
        raise BackupError(f"{backup} is the database itself; choose a backup file.")
    lock = None if held_here(db_path) else InstanceLock(db_path).acquire()  # AlreadyOpenError: another window
    try:
        before = _backup_if_readable(db_path)
        src = _connect(backup, readonly=True)
        try:
            _copy_into(src, db_path)
        finally:
            src.close()
        check = Database(db_path)  # quick_check and, for an older backup, migration
        check.close()
        logger.info("restored %s from %s", db_path, backup)
        return before
    finally:
        if lock is not None:
            lock.release()


def _backup_if_readable(db_path: Path) -> Path | None:
    if not db_path.is_file() or db_path.stat().st_size == 0:
        return None
    try:
        return backup_database(db_path, "before-restore")
    except (BackupError, DatabaseError, sqlite3.DatabaseError) as exc:
        logger.warning("the current database %s is not readable, so it is not backed up before the restore: %s",
                       db_path, exc)
        return None


def _copy_into(src: sqlite3.Connection, db_path: Path) -> None:
    """Copy `src` over the live database through the backup API; a file too damaged to be written
    that way (and not open in this process) is replaced whole by a fresh copy."""
    try:
        dst = _connect(db_path)
        try:
            src.backup(dst)
            problems = quick_check_problems(dst)
        finally:
            dst.close()
        if not problems:
            return
        error: sqlite3.DatabaseError = sqlite3.DatabaseError(f"database disk image is malformed: {problems}")
    except sqlite3.DatabaseError as exc:
        error = exc
    explained = explain_database_error(error, db_path)
    if not isinstance(explained, DatabaseDamagedError) and "page size" not in str(error):
        raise explained from None
    if open_count(db_path) > int(held_here(db_path)):  # a Database of this process has it open
        raise explained from None
    logger.warning("the database %s cannot be restored in place (%s); replacing the file", db_path, error)
    tmp = _fresh_copy(src, db_path.parent, db_path.name)
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    os.replace(tmp, db_path)


def _write_backup(src: sqlite3.Connection, label: str, reason: str, folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"Cannot create the backup folder {folder} ({exc.strerror or exc}).") from None
    try:
        tmp = _fresh_copy(src, folder, "rollcall-backup")
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"Cannot back up {label}: {explain_database_error(exc, label)}") from None
    except OSError as exc:
        raise BackupError(f"Cannot write a backup of {label} in {folder} ({exc.strerror or exc}).") from None
    try:
        problems = _quick_check_file(tmp)
        if problems:
            raise BackupError(f"The backup of {label} failed its check ({problems}); the database itself may "
                              f"be damaged. Nothing was saved.")
        return _claim_name(tmp, folder, reason)
    finally:
        tmp.unlink(missing_ok=True)


def _fresh_copy(src: sqlite3.Connection, folder: Path, prefix: str) -> Path:
    """`src` copied to a new temporary file in `folder` (rollback journal, so it is one self-contained file)."""
    fd, name = tempfile.mkstemp(prefix=prefix + ".", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp = Path(name)
    try:
        dst = sqlite3.connect(tmp, isolation_level=None)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _claim_name(tmp: Path, folder: Path, reason: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    first = 1 + max((b.seq for b in list_backups(folder) if f"{b.created:%Y%m%d-%H%M%S}" == stamp), default=0)
    for seq in range(first, first + 1000):
        name = f"rollcall-{stamp}-{reason}.db" if seq == 1 else f"rollcall-{stamp}-{seq}-{reason}.db"
        target = folder / name
        try:
            os.link(tmp, target)  # fails when the name is taken, even by another process
        except FileExistsError:
            continue
        except OSError:  # no hard links on this file system
            if target.exists():
                continue
            os.replace(tmp, target)
        logger.info("backup written: %s", target)
        return target
    raise BackupError(f"Too many backups named rollcall-{stamp}-*-{reason}.db in {folder}.")


def _quick_check_file(path: Path) -> str:
    conn = _connect(path, readonly=True)
    try:
        return quick_check_problems(conn)
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()


def _connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        uri = Path(path).absolute().as_uri() + "?mode=ro"
        return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=5.0)
    return sqlite3.connect(path, isolation_level=None, timeout=5.0)


def _slug(reason: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", reason.strip().lower()).strip("-")
    if not slug:
        raise ValueError("a backup needs a reason, e.g. 'manual' or 'daily'")
    return slug if slug[0].isalpha() else f"r-{slug}"
