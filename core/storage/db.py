"""The SQLite database: opening it safely, its schema and its migrations.

One file holds the gallery (people, samples, embeddings, templates, models)
and attendance (sessions, marks, audit, unknown sightings). WAL journaling,
foreign keys on, and every multi-row change inside one transaction
(`transaction()`), so a crash never leaves half a change behind.

The schema version lives in `PRAGMA user_version`. Opening a database from a
newer Rollcall is refused (never "upgraded down"); older ones are migrated in
one transaction per step.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlite_utils

from core.errors import RollcallError
from core.paths import user_data_dir

logger = logging.getLogger(__name__)

DB_FILENAME = "rollcall.db"


class DatabaseError(RollcallError):
    """The database cannot be opened or written."""


class DatabaseVersionError(DatabaseError):
    """The database was written by a newer Rollcall."""


class DatabaseLockedError(DatabaseError):
    """Another program holds the database locked."""


def default_db_path() -> Path:
    return user_data_dir() / DB_FILENAME


_SCHEMA_V1 = """
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    arch TEXT NOT NULL,
    file_hash TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    dim INTEGER NOT NULL,
    threshold REAL NOT NULL,
    threshold_origin TEXT NOT NULL DEFAULT 'default',
    created_at TEXT NOT NULL
);
CREATE TABLE people (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    external_id TEXT UNIQUE,
    group_name TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX people_name ON people(name);
CREATE TABLE samples (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    face_jpeg BLOB NOT NULL,
    landmarks TEXT NOT NULL,
    face_size REAL NOT NULL,
    sharpness REAL NOT NULL,
    yaw REAL NOT NULL,
    det_score REAL NOT NULL,
    source TEXT NOT NULL,
    captured_at TEXT NOT NULL
);
CREATE INDEX samples_person ON samples(person_id);
CREATE TABLE embeddings (
    sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    vector BLOB NOT NULL,
    PRIMARY KEY (sample_id, model_id)
);
CREATE INDEX embeddings_model ON embeddings(model_id);
CREATE TABLE templates (
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    vector BLOB NOT NULL,
    n_samples INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (person_id, model_id)
);
CREATE INDEX templates_model ON templates(model_id);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    group_name TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    ended_at TEXT,
    scheduled_start TEXT,
    scheduled_end TEXT
);
CREATE TABLE marks (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
    person_name TEXT NOT NULL,
    marked_at TEXT NOT NULL,
    score REAL,
    source TEXT NOT NULL DEFAULT '',
    evidence_jpeg BLOB,
    manual INTEGER NOT NULL DEFAULT 0,
    operator TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX marks_once_per_session ON marks(session_id, person_id);
CREATE INDEX marks_time ON marks(marked_at);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    operator TEXT NOT NULL,
    action TEXT NOT NULL,
    session_id INTEGER,
    person_id INTEGER,
    person_name TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT ''
);
CREATE TABLE unknown_sightings (
    id INTEGER PRIMARY KEY,
    session_id INTEGER REFERENCES sessions(id) ON DELETE CASCADE,
    seen_at TEXT NOT NULL,
    best_score REAL,
    source TEXT NOT NULL DEFAULT '',
    face_jpeg BLOB NOT NULL
);
CREATE INDEX unknown_seen ON unknown_sightings(seen_at);
"""

# Each migration takes the database from version i to i + 1 (index i).
def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it commits first, which would break the migration's transaction.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    lambda conn: _run_script(conn, _SCHEMA_V1),
]
SCHEMA_VERSION = len(MIGRATIONS)


class Database:
    """A Rollcall database file (or ":memory:"), migrated to the current schema."""

    def __init__(self, path: str | Path | None = None, *, timeout: float = 5.0) -> None:
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
        self.db = sqlite_utils.Database(conn)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            if self.path is not None:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise self._explain(exc) from None

    # -- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        self.conn.close()

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
        """All statements inside commit together or not at all (BEGIN IMMEDIATE: fail early when locked)."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._explain(exc) from None
        try:
            yield self.conn
        except sqlite3.OperationalError as exc:  # locked, read-only, disk full: say so plainly
            self.conn.execute("ROLLBACK")
            raise self._explain(exc) from None
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self.conn.execute("ROLLBACK")
            raise self._explain(exc) from None

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise self._explain(exc) from None

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

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise DatabaseVersionError(
                f"The database {self.label} was created by a newer Rollcall (schema {version}; this version "
                f"understands up to {SCHEMA_VERSION}). Update Rollcall, or choose another data folder."
            )
        for step in range(version, SCHEMA_VERSION):
            logger.info("migrating %s from schema %d to %d", self.label, step, step + 1)
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                MIGRATIONS[step](self.conn)
                self.conn.execute(f"PRAGMA user_version = {step + 1}")
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    def _explain(self, exc: sqlite3.DatabaseError) -> DatabaseError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return DatabaseLockedError(
                f"The database {self.label} is locked by another program (another Rollcall window or "
                f"command?). Close it and try again."
            )
        if "readonly" in text or "read-only" in text:
            return DatabaseError(
                f"The database {self.label} is read-only. Check the file's permissions or choose a "
                f"data folder you can write to."
            )
        if "not a database" in text or "malformed" in text:
            return DatabaseError(f"The file {self.label} is not a Rollcall database or is damaged ({text}).")
        return DatabaseError(f"Database error in {self.label}: {text}")
