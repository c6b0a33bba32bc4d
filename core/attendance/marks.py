"""Attendance: sessions, marks (at most one per person per session), manual changes with an audit
trail, unknown sightings with a retention period, and export to CSV or XLSX."""

from __future__ import annotations

import csv
import datetime as _dt
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from core.storage.db import Database
from core.gallery.store import GalleryError, NotFoundError, now_iso


@dataclass(frozen=True)
class Session:
    id: int
    name: str
    group_name: str
    started_at: str
    ended_at: str | None
    scheduled_start: str | None
    scheduled_end: str | None

    @property
    def open(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True)
class Mark:
    id: int
    session_id: int
    session_name: str
    person_id: int | None
    person_name: str
    marked_at: str
    score: float | None
    source: str
    manual: bool
    operator: str
    reason: str


EXPORT_COLUMNS = ("session", "person", "person_id", "marked_at", "score", "source", "manual", "operator", "reason")

_MARK_SQL = (
    "SELECT m.id, m.session_id, s.name, m.person_id, m.person_name, m.marked_at, m.score, m.source, m.manual,"
    " m.operator, m.reason FROM marks m JOIN sessions s ON s.id = m.session_id"
)


class Attendance:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ sessions

    def start_session(self, name: str, group_name: str = "", scheduled_start: str | None = None,
                      scheduled_end: str | None = None) -> Session:
        name = name.strip()
        if not name:
            raise GalleryError("a session needs a name")
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO sessions(name, group_name, started_at, scheduled_start, scheduled_end) VALUES (?, ?, ?, ?, ?)",
                (name, group_name, now_iso(), scheduled_start, scheduled_end),
            )
        return self.session(cur.lastrowid)

    def stop_session(self, session_id: int) -> Session:
        session = self.session(session_id)
        if session.open:
            with self.db.transaction() as conn:
                conn.execute("UPDATE sessions SET ended_at = ? WHERE id = ?", (now_iso(), session_id))
        return self.session(session_id)

    def session(self, session_id: int) -> Session:
        row = self.db.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no session with id {session_id}")
        return Session(*row)

    def sessions(self) -> list[Session]:
        return [Session(*r) for r in self.db.execute("SELECT * FROM sessions ORDER BY started_at DESC, id DESC")]

    def find_session(self, name: str) -> Session | None:
        """The most recent session with this name (open ones first)."""
        row = self.db.execute(
            "SELECT * FROM sessions WHERE name = ? ORDER BY ended_at IS NOT NULL, started_at DESC, id DESC LIMIT 1",
            (name.strip(),)).fetchone()
        return Session(*row) if row else None

    def open_or_start(self, name: str, group_name: str = "") -> Session:
        session = self.find_session(name)
        return session if session is not None and session.open else self.start_session(name, group_name)

    # ------------------------------------------------------------------ marks

    def mark(self, session_id: int, person_id: int, person_name: str, *, score: float | None = None,
             source: str = "", evidence_jpeg: bytes | None = None) -> Mark | None:
        """Mark a recognised person. Returns None (and changes nothing) when already marked."""
        try:
            with self.db.transaction() as conn:
                cur = conn.execute(
                    "INSERT INTO marks(session_id, person_id, person_name, marked_at, score, source, evidence_jpeg)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (session_id, person_id, person_name, now_iso(), score, source, evidence_jpeg),
                )
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                return None
            raise
        return self._mark(cur.lastrowid)

    def is_marked(self, session_id: int, person_id: int) -> bool:
        return self.db.execute("SELECT 1 FROM marks WHERE session_id = ? AND person_id = ?",
                               (session_id, person_id)).fetchone() is not None

    def manual_mark(self, session_id: int, person_id: int, person_name: str, *, operator: str, reason: str) -> Mark:
        if not operator.strip() or not reason.strip():
            raise GalleryError("a manual mark needs the operator's name and a reason")
        self.session(session_id)
        with self.db.transaction() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO marks(session_id, person_id, person_name, marked_at, source, manual, operator, reason)"
                    " VALUES (?, ?, ?, ?, 'manual', 1, ?, ?)",
                    (session_id, person_id, person_name, now_iso(), operator, reason),
                )
            except sqlite3.IntegrityError:
                raise GalleryError(f"{person_name} is already marked in this session") from None
            self._audit(conn, operator, "mark", session_id, person_id, person_name, reason)
        return self._mark(cur.lastrowid)

    def unmark(self, session_id: int, person_id: int, *, operator: str, reason: str) -> None:
        if not operator.strip() or not reason.strip():
            raise GalleryError("removing a mark needs the operator's name and a reason")
        row = self.db.execute("SELECT id, person_name, marked_at, manual, score FROM marks"
                              " WHERE session_id = ? AND person_id = ?", (session_id, person_id)).fetchone()
        if row is None:
            raise NotFoundError("that person is not marked in this session")
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM marks WHERE id = ?", (row[0],))
            self._audit(conn, operator, "unmark", session_id, person_id, row[1], reason,
                        {"marked_at": row[2], "was_manual": bool(row[3]), "score": row[4]})

    def marks(self, session_id: int | None = None, *, start: str | None = None, end: str | None = None,
              person_id: int | None = None, manual: bool | None = None) -> list[Mark]:
        """Marks filtered by session, time range (ISO strings, end exclusive), person and kind."""
        where, params = [], []
        if session_id is not None:
            where.append("m.session_id = ?")
            params.append(session_id)
        if start:
            where.append("m.marked_at >= ?")
            params.append(start)
        if end:
            where.append("m.marked_at < ?")
            params.append(end)
        if person_id is not None:
            where.append("m.person_id = ?")
            params.append(person_id)
        if manual is not None:
            where.append("m.manual = ?")
            params.append(int(manual))
        sql = _MARK_SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY m.marked_at, m.id"
        return [self._row_to_mark(r) for r in self.db.execute(sql, tuple(params))]

    def mark_counts(self) -> dict[int, int]:
        """How many are marked in each session (session id -> count), counted by the database."""
        return dict(self.db.execute("SELECT session_id, COUNT(*) FROM marks GROUP BY session_id").fetchall())

    def evidence(self, mark_id: int) -> bytes | None:
        row = self.db.execute("SELECT evidence_jpeg FROM marks WHERE id = ?", (mark_id,)).fetchone()
        return row[0] if row else None

    def audit_log(self, session_id: int | None = None) -> list[dict]:
        sql = "SELECT at, operator, action, session_id, person_id, person_name, reason, details FROM audit"
        rows = self.db.execute(sql + (" WHERE session_id = ?" if session_id is not None else "") + " ORDER BY id",
                               (session_id,) if session_id is not None else ())
        keys = ("at", "operator", "action", "session_id", "person_id", "person_name", "reason", "details")
        return [dict(zip(keys, r)) for r in rows]

    # ------------------------------------------------------------------ unknown faces

    def record_unknown(self, session_id: int | None, face_jpeg: bytes, best_score: float | None, source: str = "") -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO unknown_sightings(session_id, seen_at, best_score, source, face_jpeg)"
                         " VALUES (?, ?, ?, ?, ?)", (session_id, now_iso(), best_score, source, face_jpeg))

    def purge_unknown(self, retention_days: float) -> int:
        """Delete unknown sightings older than the retention period; returns how many."""
        cutoff = (_dt.datetime.now().astimezone() - _dt.timedelta(days=retention_days)).isoformat(timespec="seconds")
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM unknown_sightings WHERE seen_at < ?", (cutoff,)).rowcount

    def count_unknown(self, session_id: int | None = None) -> int:
        if session_id is None:
            return self.db.execute("SELECT COUNT(*) FROM unknown_sightings").fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM unknown_sightings WHERE session_id = ?", (session_id,)).fetchone()[0]

    # ------------------------------------------------------------------ internals

    def _mark(self, mark_id: int) -> Mark:
        return self._row_to_mark(self.db.execute(_MARK_SQL + " WHERE m.id = ?", (mark_id,)).fetchone())

    @staticmethod
    def _row_to_mark(r: tuple) -> Mark:
        return Mark(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]), r[9], r[10])

    @staticmethod
    def _audit(conn, operator: str, action: str, session_id: int, person_id: int | None, person_name: str,
               reason: str, details: dict | None = None) -> None:
        conn.execute(
            "INSERT INTO audit(at, operator, action, session_id, person_id, person_name, reason, details)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (now_iso(), operator, action, session_id, person_id, person_name, reason, json.dumps(details or {})),
        )


def mark_rows(marks: list[Mark]) -> list[tuple]:
    return [(m.session_name, m.person_name, m.person_id if m.person_id is not None else "", m.marked_at,
             round(m.score, 4) if m.score is not None else "", m.source, "yes" if m.manual else "no", m.operator, m.reason)
            for m in marks]


def export_marks(marks: list[Mark], path: str | Path, fmt: str | None = None) -> Path:
    """Write marks to CSV or XLSX (chosen by `fmt` or the file's suffix). Written to a temporary
    file first, so a failed export never leaves a half-written file behind."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in ("csv", "xlsx"):
        raise GalleryError(f"cannot export to '{fmt}': use csv or xlsx")
    tmp = path.with_name(path.name + ".part")
    rows = mark_rows(marks)
    try:
        if fmt == "csv":
            with tmp.open("w", newline="", encoding="utf-8-sig") as fh:  # BOM: Excel reads UTF-8 names right
                writer = csv.writer(fh)
                writer.writerow(EXPORT_COLUMNS)
                writer.writerows(rows)
        else:
            from openpyxl import Workbook

            wb = Workbook()
            ws = wb.active
            ws.title = "Attendance"
            ws.append(list(EXPORT_COLUMNS))
            for row in rows:
                ws.append(list(row))
            ws.freeze_panes = "A2"
            for col, width in zip("ABCDEFGHI", (24, 28, 10, 26, 8, 16, 8, 14, 30)):
                ws.column_dimensions[col].width = width
            wb.save(tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise GalleryError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
