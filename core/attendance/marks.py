"""Attendance: sessions with the people they expect, marks (at most one per person per session),
manual changes and excuses with an audit trail, unknown sightings with a retention period.

Rows are read as dicts with sqlite-utils and written with it inside `Database.transaction()`.
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from core.storage.db import Database
from core.gallery.records import (MAX_NAME_CHARS, GalleryError, NotFoundError, clean_name, clean_text, from_row, get_row,
                                  now_iso, rows)


@dataclass(frozen=True)
class Session:
    id: int
    name: str
    group_id: int | None  # whose members are expected (None: anyone recognised is marked, nobody is absent)
    group_name: str  # '' without a group
    started_at: str
    ended_at: str | None
    scheduled_start: str | None  # when it starts (lateness counts from here; default: started_at)
    scheduled_end: str | None
    late_after_min: int | None  # marked later than this many minutes after the start: late (None: never late)

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
    score: float | None  # the raw cosine (logs and JSON only; never shown to the operator)
    source: str
    manual: bool
    operator: str
    reason: str
    confidence: int | None = None  # the operator's 0-100 scale it was made with (50 = the bar); None: manual or older


@dataclass(frozen=True)
class Expected:
    """Someone a session expects (a member of its group when it started, or who joined while it was open)."""
    person_id: int | None  # None once the person was deleted (the name is kept)
    person_name: str
    external_id: str | None
    excused_by: str
    excused_reason: str
    excused_at: str | None


def parse_time(value: str, what: str = "a time") -> _dt.datetime:
    """An ISO date-time ("2026-12-07T09:00", with or without its UTC offset; without one it is local time)."""
    try:
        moment = _dt.datetime.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise GalleryError(f"{what} '{value}' is not a date and time like 2026-12-07T09:00") from None
    return moment if moment.tzinfo is not None else moment.astimezone()

_SESSION_SQL = ("SELECT s.id, s.name, s.group_id, COALESCE(g.name, '') AS group_name, s.started_at, s.ended_at,"
                " s.scheduled_start, s.scheduled_end, s.late_after_min FROM sessions s LEFT JOIN groups g ON g.id = s.group_id")

_MARK_SQL = (
    "SELECT m.id, m.session_id, s.name AS session_name, m.person_id, m.person_name, m.marked_at, m.score, m.source, m.manual,"
    " m.operator, m.reason, m.confidence FROM marks m JOIN sessions s ON s.id = m.session_id"
)


class Attendance:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ sessions

    def start_session(self, name: str, group_id: int | None = None, *, scheduled_start: str | None = None,
                      scheduled_end: str | None = None, late_after_min: int | None = None) -> Session:
        """A new session; with a group, its members are the people expected (kept with the session)."""
        name = clean_name(name, "a session")
        if late_after_min is not None and not 0 <= late_after_min <= 24 * 60:
            raise GalleryError(f"late after {late_after_min} minutes? Give 0 to {24 * 60} minutes, or none")
        for label, value in (("start", scheduled_start), ("end", scheduled_end)):
            if value is not None:
                parse_time(value, f"the session's {label} time")
        if group_id is not None:
            get_row(self.db, "groups", group_id, "group")
        with self.db.transaction() as conn:
            session_id = conn.execute(
                "INSERT INTO sessions(name, group_id, started_at, scheduled_start, scheduled_end, late_after_min)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, group_id, now_iso(), scheduled_start, scheduled_end, late_after_min)).lastrowid
            conn.execute("INSERT INTO session_expected(session_id, person_id, person_name, external_id)"
                         " SELECT ?, p.id, p.name, p.external_id FROM group_members m JOIN people p ON p.id = m.person_id"
                         " WHERE m.group_id = ?", (session_id, group_id))
        return self.session(session_id)

    def stop_session(self, session_id: int) -> Session:
        session = self.session(session_id)
        if session.open:
            with self.db.transaction():
                self.db.db["sessions"].update(session_id, {"ended_at": now_iso()})
        return self.session(session_id)

    def session(self, session_id: int) -> Session:
        found = rows(self.db, _SESSION_SQL + " WHERE s.id = ?", (session_id,))
        if not found:
            raise NotFoundError(f"no session with id {session_id} in {self.db.label} (deleted meanwhile? "
                                f"refresh the list)")
        return from_row(Session, found[0])

    def sessions(self, group_id: int | None = None) -> list[Session]:
        where = " WHERE s.group_id = ?" if group_id is not None else ""
        return [from_row(Session, r) for r in rows(self.db, _SESSION_SQL + where + " ORDER BY s.started_at DESC, s.id DESC",
                                                   (group_id,) if group_id is not None else ())]

    def find_session(self, name: str) -> Session | None:
        """The most recent session with this name (open ones first)."""
        found = rows(self.db, _SESSION_SQL + " WHERE s.name = ?"
                     " ORDER BY s.ended_at IS NOT NULL, s.started_at DESC, s.id DESC LIMIT 1", (name.strip(),))
        return from_row(Session, found[0]) if found else None

    def open_or_start(self, name: str, group_id: int | None = None) -> Session:
        session = self.find_session(name)
        return session if session is not None and session.open else self.start_session(name, group_id)

    # ------------------------------------------------------------------ marks

    def mark(self, session_id: int, person_id: int, person_name: str, *, score: float | None = None,
             confidence: int | None = None, source: str = "", evidence_jpeg: bytes | None = None) -> Mark | None:
        """Mark a recognised person (`score`: the raw cosine; `confidence`: the operator's 0-100 scale,
        core.gallery.policy.confidence). Returns None (and changes nothing) when already marked."""
        marks = self.db.db["marks"]
        try:
            with self.db.transaction():
                marks.insert({"session_id": session_id, "person_id": person_id, "person_name": person_name,
                              "marked_at": now_iso(), "score": score,
                              "confidence": int(confidence) if confidence is not None else None,
                              "source": source, "evidence_jpeg": evidence_jpeg})
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                return None
            raise
        return self._mark(marks.last_rowid)

    def is_marked(self, session_id: int, person_id: int) -> bool:
        return bool(rows(self.db, "SELECT 1 AS hit FROM marks WHERE session_id = ? AND person_id = ?",
                         (session_id, person_id)))

    def manual_mark(self, session_id: int, person_id: int, person_name: str, *, operator: str, reason: str) -> Mark:
        operator, reason = _who_and_why(operator, reason, "a manual mark needs the operator's name and a reason")
        self.session(session_id)
        marks = self.db.db["marks"]
        with self.db.transaction():
            try:
                marks.insert({"session_id": session_id, "person_id": person_id, "person_name": person_name,
                              "marked_at": now_iso(), "source": "manual", "manual": 1, "operator": operator,
                              "reason": reason})
            except sqlite3.IntegrityError:
                raise GalleryError(f"{person_name} is already marked in this session") from None
            mark_id = marks.last_rowid
            self._audit(operator, "mark", session_id, person_id, person_name, reason)
        return self._mark(mark_id)

    def unmark(self, session_id: int, person_id: int, *, operator: str, reason: str) -> None:
        operator, reason = _who_and_why(operator, reason, "removing a mark needs the operator's name and a reason")
        found = rows(self.db, "SELECT id, person_name, marked_at, manual, score, confidence FROM marks"
                     " WHERE session_id = ? AND person_id = ?", (session_id, person_id))
        if not found:
            raise NotFoundError("that person is not marked in this session")
        row = found[0]
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM marks WHERE id = ?", (row["id"],))
            self._audit(operator, "unmark", session_id, person_id, row["person_name"], reason,
                        {"marked_at": row["marked_at"], "was_manual": bool(row["manual"]), "score": row["score"],
                         "confidence": row["confidence"]})

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
        return [self._row_to_mark(r) for r in rows(self.db, sql, tuple(params))]

    def mark_counts(self) -> dict[int, int]:
        """How many are marked in each session (session id -> count), counted by the database."""
        counted = rows(self.db, "SELECT session_id, COUNT(*) AS n FROM marks GROUP BY session_id")
        return {r["session_id"]: r["n"] for r in counted}

    def evidence(self, mark_id: int) -> bytes | None:
        found = rows(self.db, "SELECT evidence_jpeg FROM marks WHERE id = ?", (mark_id,))
        return found[0]["evidence_jpeg"] if found else None

    def audit_log(self, session_id: int | None = None) -> list[dict]:
        sql = "SELECT at, operator, action, session_id, person_id, person_name, reason, details FROM audit"
        return rows(self.db, sql + (" WHERE session_id = ?" if session_id is not None else "") + " ORDER BY id",
                    (session_id,) if session_id is not None else ())

    # ------------------------------------------------------------------ who is expected

    def expected(self, session_id: int) -> list[Expected]:
        return [from_row(Expected, r) for r in rows(
            self.db, "SELECT person_id, person_name, external_id, excused_by, excused_reason, excused_at"
            " FROM session_expected WHERE session_id = ? ORDER BY person_name COLLATE NOCASE, id", (session_id,))]

    def excuse(self, session_id: int, person_id: int, *, operator: str, reason: str) -> None:
        """Record that an expected person is excused from the session (audited)."""
        operator, reason = _who_and_why(operator, reason, "excusing someone needs the operator's name and a reason")
        found = rows(self.db, "SELECT person_name FROM session_expected WHERE session_id = ? AND person_id = ?",
                     (session_id, person_id))
        if not found:
            raise NotFoundError("that person is not expected in this session (only members of its group are)")
        with self.db.transaction() as conn:
            conn.execute("UPDATE session_expected SET excused_by = ?, excused_reason = ?, excused_at = ?"
                         " WHERE session_id = ? AND person_id = ?", (operator, reason, now_iso(), session_id, person_id))
            self._audit(operator, "excuse", session_id, person_id, found[0]["person_name"], reason)

    def unexcuse(self, session_id: int, person_id: int, *, operator: str, reason: str) -> None:
        operator, reason = _who_and_why(operator, reason, "withdrawing an excuse needs the operator's name and a reason")
        found = rows(self.db, "SELECT person_name, excused_by, excused_reason FROM session_expected"
                     " WHERE session_id = ? AND person_id = ? AND excused_at IS NOT NULL", (session_id, person_id))
        if not found:
            raise NotFoundError("that person is not excused in this session")
        with self.db.transaction() as conn:
            conn.execute("UPDATE session_expected SET excused_by = '', excused_reason = '', excused_at = NULL"
                         " WHERE session_id = ? AND person_id = ?", (session_id, person_id))
            self._audit(operator, "unexcuse", session_id, person_id, found[0]["person_name"], reason,
                        {"was_excused_by": found[0]["excused_by"], "excuse": found[0]["excused_reason"]})

    # ------------------------------------------------------------------ unknown faces

    def record_unknown(self, session_id: int | None, face_jpeg: bytes, best_score: float | None, source: str = "") -> None:
        with self.db.transaction():
            self.db.db["unknown_sightings"].insert({"session_id": session_id, "seen_at": now_iso(),
                                                    "best_score": best_score, "source": source, "face_jpeg": face_jpeg})

    def purge_unknown(self, retention_days: float) -> int:
        """Delete unknown sightings older than the retention period; returns how many."""
        cutoff = (_dt.datetime.now().astimezone() - _dt.timedelta(days=retention_days)).isoformat(timespec="seconds")
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM unknown_sightings WHERE seen_at < ?", (cutoff,)).rowcount

    def count_unknown(self, session_id: int | None = None) -> int:
        if session_id is None:
            return rows(self.db, "SELECT COUNT(*) AS n FROM unknown_sightings")[0]["n"]
        return rows(self.db, "SELECT COUNT(*) AS n FROM unknown_sightings WHERE session_id = ?", (session_id,))[0]["n"]

    # ------------------------------------------------------------------ internals

    def _mark(self, mark_id: int) -> Mark:
        return self._row_to_mark(rows(self.db, _MARK_SQL + " WHERE m.id = ?", (mark_id,))[0])

    @staticmethod
    def _row_to_mark(row: dict[str, Any]) -> Mark:
        return from_row(Mark, {**row, "manual": bool(row["manual"])})

    def _audit(self, operator: str, action: str, session_id: int, person_id: int | None, person_name: str,
               reason: str, details: dict | None = None) -> None:
        operator, reason = clean_text(operator, "the operator's name", max_chars=MAX_NAME_CHARS), clean_text(reason)
        """Inside the caller's transaction: one audit entry."""
        self.db.db["audit"].insert({"at": now_iso(), "operator": operator, "action": action, "session_id": session_id,
                                    "person_id": person_id, "person_name": person_name, "reason": reason,
                                    "details": json.dumps(details or {})})


def _who_and_why(operator: str | None, reason: str | None, needed: str) -> tuple[str, str]:
    """The operator's name and the reason of a manual change, cleaned as every stored text is (no control
    characters, one line); `needed` is the message when either is empty."""
    who = clean_text(operator, "the operator's name", max_chars=MAX_NAME_CHARS)
    why = clean_text(reason, "the reason")
    if not who or not why:
        raise GalleryError(needed)
    return who, why
