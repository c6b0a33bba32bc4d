"""Attendance: sessions, marks (at most one per person per session), manual changes with an audit
trail, unknown sightings with a retention period, and export to CSV or XLSX.

Rows are read as dicts with sqlite-utils and written with it inside `Database.transaction()`.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.storage.db import Database
from core.protected_files import ensure_not_database_file
from core.gallery.records import GalleryError, NotFoundError, from_row, get_row, now_iso, rows


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
    score: float | None  # the raw cosine (logs and JSON only; never shown to the operator)
    source: str
    manual: bool
    operator: str
    reason: str
    confidence: int | None = None  # the operator's 0-100 scale it was made with (50 = the bar); None: manual or older


EXPORT_COLUMNS = ("session", "person", "person_id", "marked_at", "confidence", "source", "manual", "operator",
                  "reason")

_MARK_SQL = (
    "SELECT m.id, m.session_id, s.name AS session_name, m.person_id, m.person_name, m.marked_at, m.score, m.source, m.manual,"
    " m.operator, m.reason, m.confidence FROM marks m JOIN sessions s ON s.id = m.session_id"
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
        sessions = self.db.db["sessions"]
        with self.db.transaction():
            sessions.insert({"name": name, "group_name": group_name, "started_at": now_iso(),
                             "scheduled_start": scheduled_start, "scheduled_end": scheduled_end})
        return self.session(sessions.last_rowid)

    def stop_session(self, session_id: int) -> Session:
        session = self.session(session_id)
        if session.open:
            with self.db.transaction():
                self.db.db["sessions"].update(session_id, {"ended_at": now_iso()})
        return self.session(session_id)

    def session(self, session_id: int) -> Session:
        return from_row(Session, get_row(self.db, "sessions", session_id, "session"))

    def sessions(self) -> list[Session]:
        return [from_row(Session, r) for r in rows(self.db, "SELECT * FROM sessions ORDER BY started_at DESC, id DESC")]

    def find_session(self, name: str) -> Session | None:
        """The most recent session with this name (open ones first)."""
        found = rows(self.db, "SELECT * FROM sessions WHERE name = ?"
                     " ORDER BY ended_at IS NOT NULL, started_at DESC, id DESC LIMIT 1", (name.strip(),))
        return from_row(Session, found[0]) if found else None

    def open_or_start(self, name: str, group_name: str = "") -> Session:
        session = self.find_session(name)
        return session if session is not None and session.open else self.start_session(name, group_name)

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
        if not operator.strip() or not reason.strip():
            raise GalleryError("a manual mark needs the operator's name and a reason")
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
        if not operator.strip() or not reason.strip():
            raise GalleryError("removing a mark needs the operator's name and a reason")
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
        """Inside the caller's transaction: one audit entry."""
        self.db.db["audit"].insert({"at": now_iso(), "operator": operator, "action": action, "session_id": session_id,
                                    "person_id": person_id, "person_name": person_name, "reason": reason,
                                    "details": json.dumps(details or {})})


# A spreadsheet reads a cell starting with one of these as a formula (or the start of one).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def mark_rows(marks: list[Mark]) -> list[tuple]:
    """The export's rows (EXPORT_COLUMNS): the confidence as a number, empty for manual and older marks;
    the raw cosine is not exported."""
    return [(m.session_name, m.person_name, m.person_id if m.person_id is not None else "", m.marked_at,
             m.confidence if m.confidence is not None else "", m.source, "yes" if m.manual else "no", m.operator,
             m.reason)
            for m in marks]


def _formula_like(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def csv_cell(value: object) -> object:
    """A value as a CSV cell Excel shows as text: names and reasons typed by people can start with '=' or '@'
    ("CSV injection"), so such text gets a leading apostrophe; numbers are left as numbers."""
    return "'" + value if _formula_like(value) else value


def export_marks(marks: list[Mark], path: str | Path, fmt: str | None = None) -> Path:
    """Write marks to CSV or XLSX (chosen by `fmt` or the file's suffix). Written to a temporary
    file first, so a failed export never leaves a half-written file behind. No cell is ever a
    formula: text that looks like one is kept as text (`csv_cell`; in XLSX a text cell with Excel's
    quote prefix, so the text itself is unchanged)."""
    path = Path(path)
    ensure_not_database_file(path, "an export")  # writing over it would destroy the register
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in ("csv", "xlsx"):
        raise GalleryError(f"cannot export to '{fmt}': use csv or xlsx")
    tmp = path.with_name(path.name + ".part")
    table = mark_rows(marks)
    try:
        if fmt == "csv":
            with tmp.open("w", newline="", encoding="utf-8-sig") as fh:  # BOM: Excel reads UTF-8 names right
                writer = csv.writer(fh)
                writer.writerow(EXPORT_COLUMNS)
                writer.writerows([csv_cell(v) for v in row] for row in table)
        else:
            from openpyxl import Workbook

            wb = Workbook()
            ws = wb.active
            ws.title = "Attendance"
            ws.append(list(EXPORT_COLUMNS))
            for row in table:
                ws.append(list(row))
                for cell in ws[ws.max_row]:
                    if _formula_like(cell.value):  # openpyxl would store "=..." as a formula
                        cell.data_type = "s"
                        cell.quotePrefix = True
            ws.freeze_panes = "A2"
            for col, width in zip("ABCDEFGHI", (24, 28, 10, 26, 11, 16, 8, 14, 30)):
                ws.column_dimensions[col].width = width
            wb.save(tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise GalleryError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
