"""The database schema as a list of migrations: MIGRATIONS[i] takes a database from version i to i + 1
(`PRAGMA user_version`), inside the transaction `core.storage.db.Database` opens for it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

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

def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it commits first, which would break the migration's transaction.
    statement = ""
    for piece in script.split(";"):
        statement += piece + ";"
        if sqlite3.complete_statement(statement):  # a trigger's body holds ';' too
            if statement.strip(" \n;"):
                conn.execute(statement)
            statement = ""


# v2: a mark keeps the operator's confidence (core.gallery.policy.confidence, 0-100) it was made with;
# NULL for manual marks and for marks made before. The raw cosine stays in `score`.
_MARKS_CONFIDENCE_V2 = "ALTER TABLE marks ADD COLUMN confidence INTEGER"

# v3: groups with members (a person may be in several), replacing the one free-text group of a person
# and of a session; a session's expected people (its group's members, kept with the session so the
# register of a past session does not change when the group does), with who is excused; a late-after.
# Triggers keep an open session's expected people in step with its group (joining, leaving, renaming);
# an ended session's list no longer changes.
_REGISTER_V3 = """
CREATE TABLE groups (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_at TEXT NOT NULL
);
CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, person_id)
);
CREATE INDEX group_members_person ON group_members(person_id);
ALTER TABLE sessions ADD COLUMN group_id INTEGER REFERENCES groups(id) ON DELETE SET NULL;
ALTER TABLE sessions ADD COLUMN late_after_min INTEGER;
CREATE TABLE session_expected (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
    person_name TEXT NOT NULL,
    external_id TEXT,
    excused_by TEXT NOT NULL DEFAULT '',
    excused_reason TEXT NOT NULL DEFAULT '',
    excused_at TEXT
);
CREATE UNIQUE INDEX session_expected_once ON session_expected(session_id, person_id);
CREATE TRIGGER expected_follows_joining AFTER INSERT ON group_members BEGIN
    INSERT OR IGNORE INTO session_expected(session_id, person_id, person_name, external_id)
    SELECT s.id, p.id, p.name, p.external_id FROM sessions s JOIN people p ON p.id = NEW.person_id
    WHERE s.group_id = NEW.group_id AND s.ended_at IS NULL;
END;
CREATE TRIGGER expected_follows_leaving AFTER DELETE ON group_members BEGIN
    DELETE FROM session_expected WHERE person_id = OLD.person_id AND excused_at IS NULL
    AND session_id IN (SELECT id FROM sessions WHERE group_id = OLD.group_id AND ended_at IS NULL)
    AND NOT EXISTS (SELECT 1 FROM marks m WHERE m.session_id = session_expected.session_id
                    AND m.person_id = OLD.person_id);
END;
CREATE TRIGGER expected_follows_renaming AFTER UPDATE OF name, external_id ON people BEGIN
    UPDATE session_expected SET person_name = NEW.name, external_id = NEW.external_id WHERE person_id = NEW.id;
END;
"""


def _split_groups(text: str) -> list[str]:
    return [g.strip() for g in (text or "").split(";") if g.strip()]


def _register_v3(conn: sqlite3.Connection) -> None:
    _run_script(conn, _REGISTER_V3)
    stamp = conn.execute("SELECT strftime('%Y-%m-%dT%H:%M:%S', 'now') || '+00:00'").fetchone()[0]

    def group_id(name: str) -> int:
        conn.execute("INSERT OR IGNORE INTO groups(name, created_at) VALUES (?, ?)", (name, stamp))
        return conn.execute("SELECT id FROM groups WHERE name = ?", (name,)).fetchone()[0]

    for person_id, text in conn.execute("SELECT id, group_name FROM people").fetchall():
        for name in _split_groups(text):
            conn.execute("INSERT OR IGNORE INTO group_members VALUES (?, ?)", (group_id(name), person_id))
    for session_id, text in conn.execute("SELECT id, group_name FROM sessions").fetchall():
        names = _split_groups(text)
        if names:
            gid = group_id(names[0])
            conn.execute("UPDATE sessions SET group_id = ? WHERE id = ?", (gid, session_id))
            conn.execute("INSERT INTO session_expected(session_id, person_id, person_name, external_id)"
                         " SELECT ?, p.id, p.name, p.external_id FROM group_members m JOIN people p ON p.id = m.person_id"
                         " WHERE m.group_id = ?", (session_id, gid))
    for table in ("people", "sessions"):  # the free-text columns, now groups (SQLite >= 3.35 drops them)
        try:
            conn.execute(f"ALTER TABLE {table} DROP COLUMN group_name")
        except sqlite3.OperationalError:
            conn.execute(f"UPDATE {table} SET group_name = ''")  # kept, unused


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    lambda conn: _run_script(conn, _SCHEMA_V1),
    lambda conn: _run_script(conn, _MARKS_CONFIDENCE_V2),
    _register_v3,
]
SCHEMA_VERSION = len(MIGRATIONS)
