"""The SQLite database: opening it safely, its schema and its migrations.

One file holds the gallery and attendance; WAL journaling, foreign keys on, and
every multi-row change in one `transaction()`. Opening runs a time-bounded
quick_check (damage: `DatabaseDamagedError`, saying how to restore a backup).
The schema version is `PRAGMA user_version`: newer is refused, older is backed
up, then migrated one transaction per step. SQLite's POSIX locks are lost when
the process closes ANY descriptor of the file, so open database files are
registered in `core.protected_files`, which readers of user-chosen files consult.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

from core import protected_files
from core.errors import RollcallError
from core.protected_files import file_key
from core.storage.schema import MIGRATIONS, SCHEMA_VERSION
from core.paths import user_data_dir

logger = logging.getLogger(__name__)

DB_FILENAME = "rollcall.db"
QUICK_CHECK_SECONDS = 2.0  # the check on open stops after this long (a huge file is not fully checked)
RESTORE_HINT = ("Restore a backup (rollcall restore BACKUP, or Settings > Database > Restore a backup in the app), "
                "or open another database (--db).")


class DatabaseError(RollcallError):
    """The database cannot be opened or written."""


class DatabaseVersionError(DatabaseError):
    """The database was written by a newer Rollcall."""


class DatabaseLockedError(DatabaseError):
    """Another program holds the database locked."""


class DatabaseDamagedError(DatabaseError):
    """The database file is corrupt, or is not an SQLite database at all."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        what = "is damaged or is not a Rollcall database" if "not a database" in problem else "is damaged"
        where = f" Automatic backups are in {Path(path).parent / 'backups'}." if str(path) != ":memory:" else ""
        super().__init__(f"The database {path} {what} ({problem}). {RESTORE_HINT}{where}")


def default_db_path() -> Path:
    return user_data_dir() / DB_FILENAME


def explain_database_error(exc: sqlite3.Error, path: str | Path) -> DatabaseError:
    """Any sqlite3 error as a Rollcall error that names the file and says what to do."""
    text = str(exc)
    code = getattr(exc, "sqlite_errorname", "") or ""
    if "locked" in text or "busy" in text or code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return DatabaseLockedError(f"The database {path} is locked by another program (another Rollcall window "
                                   f"or command?). Close it and try again.")
    if "readonly" in text or "read-only" in text or code.startswith("SQLITE_READONLY"):
        return DatabaseError(f"The database {path} is read-only. Check the file's permissions or choose a "
                             f"data folder you can write to.")
    if "malformed" in text or "not a database" in text or code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return DatabaseDamagedError(path, text)
    if "disk I/O error" in text or code.startswith("SQLITE_IOERR"):
        return DatabaseError(f"Cannot read or write the database {path} ({text}). Check the disk or network drive "
                             f"it is on and try again; if it keeps failing, r{RESTORE_HINT[1:]}")
    if "full" in text or code.startswith("SQLITE_FULL"):
        return DatabaseError(f"The disk holding the database {path} is full ({text}). Free some space and try again.")
    return DatabaseError(f"Database error in {path}: {text}")


def quick_check_problems(conn: sqlite3.Connection) -> str:
    """'' when PRAGMA quick_check finds nothing wrong, else its first findings on one line."""
    rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)").fetchall() if r[0] != "ok"]
    lines = [line.strip() for row in rows for line in row.splitlines()]
    text = "; ".join(line for line in lines if line and not line.startswith("*** in database"))
    return text if len(text) <= 300 else text[:297] + "..."


def _needs_explaining(exc: BaseException) -> bool:
    """Errors of the file or the connection (not a constraint the caller handles, like IntegrityError)."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


_checked: set[str] = set()  # quick_check'ed since this process opened them: other connections skip it


def register_database_file(path: str | Path, delta: int = 1) -> None:
    """Protect `path` and its -wal, -shm, -journal and .lock files until the matching unregister."""
    if protected_files.register(path, delta) <= 0:
        _checked.discard(file_key(path))


def unregister_database_file(path: str | Path) -> None:
    register_database_file(path, -1)




class Database:
    """A Rollcall database file (or ":memory:"), checked and migrated to the current schema."""

    def __init__(self, path: str | Path | None = None, *, timeout: float = 5.0,
                 check_seconds: float = QUICK_CHECK_SECONDS) -> None:
        self.path = Path(path) if path not in (None, ":memory:") else None
        if path is None:
            self.path = default_db_path()
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(f"Cannot create the folder for the database {self.path}: {exc}") from None
        target = str(self.path) if self.path is not None else ":memory:"
        try:
            conn = sqlite3.connect(target, timeout=timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise DatabaseError(f"Cannot open the database {target}: {exc}") from None
        self.conn = conn
        self._closed = False
        if self.path is not None:
            register_database_file(self.path)
        self.db = sqlite_utils.Database(conn)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            if self.path is not None:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                key = file_key(self.path)
                if key not in _checked:  # once while this process has the file open (one connection a thread)
                    self._quick_check(check_seconds)
                    _checked.add(key)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise self._explain(exc) from None
        except BaseException:
            self.close()
            raise

    # -- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.conn.close()
        if self.path is not None:
            unregister_database_file(self.path)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def label(self) -> str:
        return str(self.path) if self.path is not None else ":memory:"

    # -- transactions ----------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All statements inside commit together or not at all (BEGIN IMMEDIATE: fail early when locked).

        A failure raises the error that caused it, never the rollback's: SQLite may already
        have rolled back by itself (disk I/O error, disk full), so ROLLBACK runs only when
        a transaction is still active."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise self._explain(exc) from None
        try:
            yield conn
        except BaseException as exc:
            self._rollback_quietly()
            if _needs_explaining(exc):  # locked, read-only, disk full, damaged: say so plainly
                raise self._explain(exc) from exc  # type: ignore[arg-type]
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self._rollback_quietly()
            raise self._explain(exc) from exc

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.DatabaseError as exc:
            if _needs_explaining(exc):
                raise self._explain(exc) from None
            raise

    # -- settings ----------------------------------------------------------------------

    def get_setting(self, key: str, default: str | None = None) -> str | None:
        row = self.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_setting(self, key: str, value: str | None, conn: sqlite3.Connection | None = None) -> None:
        (conn or self.conn).execute(
            "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- internals ---------------------------------------------------------------------

    def _rollback_quietly(self) -> None:
        if not self.conn.in_transaction:
            return
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.Error as exc:  # the original error is the one to report
            logger.warning("rollback in %s failed after an error: %s", self.label, exc)

    def _quick_check(self, seconds: float) -> None:
        """PRAGMA quick_check, stopped after `seconds` (a cut-short check is not damage). The progress
        handler stops it between VM steps; SQLite < 3.44 never calls that during the b-tree walk,
        so a timer interrupts the connection too."""
        deadline = time.monotonic() + seconds
        state = {"cut": False, "running": True}
        guard = threading.Lock()

        def progress() -> int:
            state["cut"] = state["cut"] or time.monotonic() > deadline
            return int(state["cut"])

        def stop() -> None:
            with guard:
                if state["running"]:
                    state["cut"] = True
                    self.conn.interrupt()

        timer = threading.Timer(seconds, stop)
        timer.daemon = True
        self.conn.set_progress_handler(progress, 20_000)
        timer.start()
        try:
            problems = quick_check_problems(self.conn)
        except sqlite3.OperationalError as exc:
            if state["cut"] and "interrupt" in str(exc):
                logger.info("the quick check of %s was cut short after %.1f s (a large file); not checked fully",
                            self.label, seconds)
                return
            raise
        finally:
            with guard:
                state["running"] = False
            timer.cancel()
            self.conn.set_progress_handler(None, 0)
        if problems:
            raise DatabaseDamagedError(self.label, f"quick check: {problems}")

    def _has_data(self) -> bool:
        tables = [r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return any(self.conn.execute(f'SELECT EXISTS(SELECT 1 FROM "{t}")').fetchone()[0] for t in tables)

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise DatabaseVersionError(
                f"The database {self.label} was created by a newer Rollcall (schema {version}; this version "
                f"understands up to {SCHEMA_VERSION}). Update Rollcall, or choose another data folder."
            )
        if 0 < version < SCHEMA_VERSION and self.path is not None and self._has_data():
            from core.storage.backup import backup_database

            saved = backup_database(self, "before-migration")
            logger.info("backed up %s to %s before migrating it", self.label, saved)
        for step in range(version, SCHEMA_VERSION):
            logger.info("migrating %s from schema %d to %d", self.label, step, step + 1)
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                MIGRATIONS[step](self.conn)
                self.conn.execute(f"PRAGMA user_version = {step + 1}")
                self.conn.execute("COMMIT")
            except BaseException:
                self._rollback_quietly()
                raise

    def _explain(self, exc: sqlite3.Error) -> DatabaseError:
        return explain_database_error(exc, self.label)
