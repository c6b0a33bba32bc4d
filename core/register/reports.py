"""The reports: a session's register, the registers of a date range, a group's people × sessions
matrix with each person's attendance percentage, and one person's history."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from core.attendance.marks import Attendance, Session
from core.gallery.records import GalleryError, rows
from core.register.sheets import Sheet, local_time
from core.register.status import (ABSENT, GUEST, LATE, LETTERS, PRESENT, Register, build_register, lateness_cutoff,
                                  status_of)

REGISTER_COLUMNS = ("session", "external_id", "person", "groups", "status", "first_seen", "time_zone",
                    "score", "manual", "operator", "reason")
_REGISTER_WIDTHS = (22, 12, 26, 18, 9, 20, 11, 7, 7, 14, 30)


def register_sheet(registers: list[Register]) -> Sheet:
    """One row per person per session. `score`: the confidence of an automatic mark on
    the operator's 0-100 scale (50 = the bar; the raw cosine stays out of exports)."""
    table = []
    for register in registers:
        for line in register.lines:
            seen, zone = local_time(line.first_seen)
            table.append((register.session.name, line.external_id or "", line.name, "; ".join(line.groups),
                          line.status, seen, zone, line.confidence,
                          "yes" if line.manual else ("no" if line.first_seen else ""),
                          line.operator, line.reason))
    title = registers[0].session.name if len(registers) == 1 else "Register"
    return Sheet(title, REGISTER_COLUMNS, table, _REGISTER_WIDTHS)


def day_range(start: str | None, end: str | None) -> tuple[str | None, str | None]:
    """(from, to) dates or times as ISO bounds, `to` exclusive; a `to` date (YYYY-MM-DD) includes that day."""
    for value in (start, end):
        if value:
            try:
                _dt.datetime.fromisoformat(value)
            except ValueError:
                raise GalleryError(f"'{value}' is not a date like 2026-12-07 (or a date and time)") from None
    if end and len(end) == 10:
        end = (_dt.date.fromisoformat(end) + _dt.timedelta(days=1)).isoformat()
    return start, end


def sessions_between(attendance: Attendance, start: str | None, end: str | None,
                     group_id: int | None = None) -> list[Session]:
    """Sessions started in [start, end) (see `day_range`), oldest first."""
    start, end = day_range(start, end)
    found = [s for s in attendance.sessions(group_id)
             if (not start or s.started_at >= start) and (not end or s.started_at < end)]
    return sorted(found, key=lambda s: (s.started_at, s.id))


def registers_between(attendance: Attendance, start: str | None, end: str | None) -> list[Register]:
    return [build_register(attendance, s.id) for s in sessions_between(attendance, start, end)]


@dataclass(frozen=True)
class GroupReport:
    sessions: list[Session]
    people: list[tuple[str, str, list[str], int, int]]  # (external id, name, letter per session, attended, counted)

    def sheet(self, group_name: str) -> Sheet:
        heads = tuple(f"{s.name} {s.started_at[:16].replace('T', ' ')}" for s in self.sessions)
        table = []
        for external_id, name, letters, attended, counted in self.people:
            percent = round(100.0 * attended / counted, 1) if counted else None
            table.append((external_id, name, *letters, attended, counted, percent))
        return Sheet(group_name, ("external_id", "person", *heads, "attended", "of", "percent"), table,
                     (12, 26, *(14 for _ in heads), 9, 6, 8))


def group_report(attendance: Attendance, group_id: int, start: str | None, end: str | None) -> GroupReport:
    """Everyone a session of the group expected in [start, end): P, L, A or E per session (blank: not
    expected then, e.g. joined later). Percent: sessions attended (P or L) of those not excused."""
    sessions = sessions_between(attendance, start, end, group_id)
    people: dict[object, tuple[str, str, dict[int, str]]] = {}
    for session in sessions:
        for line in build_register(attendance, session.id).lines:
            if line.status == GUEST:
                continue
            key = line.person_id if line.person_id is not None else ("gone", line.name)
            people.setdefault(key, (line.external_id or "", line.name, {}))[2][session.id] = line.status
    out = []
    for external_id, name, statuses in sorted(people.values(), key=lambda p: p[1].casefold()):
        letters = [LETTERS[statuses[s.id]] if s.id in statuses else "" for s in sessions]
        attended = sum(v in (PRESENT, LATE) for v in statuses.values())
        counted = sum(v in (PRESENT, LATE, ABSENT) for v in statuses.values())
        out.append((external_id, name, letters, attended, counted))
    return GroupReport(sessions, out)


@dataclass(frozen=True)
class HistoryLine:
    session: Session
    status: str
    first_seen: str | None


def person_history(attendance: Attendance, person_id: int) -> list[HistoryLine]:
    """Every session that expected or marked the person, newest first, with their status there."""
    found = rows(attendance.db, "SELECT s.id, e.excused_at, e.id AS expected, m.marked_at FROM sessions s"
                 " LEFT JOIN session_expected e ON e.session_id = s.id AND e.person_id = ?"
                 " LEFT JOIN marks m ON m.session_id = s.id AND m.person_id = ?"
                 " WHERE e.id IS NOT NULL OR m.id IS NOT NULL ORDER BY s.started_at DESC, s.id DESC",
                 (person_id, person_id))
    out = []
    for r in found:
        session = attendance.session(r["id"])
        if r["expected"] is None:
            status = GUEST if session.group_id is not None else status_of(r["marked_at"], False, lateness_cutoff(session))
        else:
            status = status_of(r["marked_at"], r["excused_at"] is not None, lateness_cutoff(session))
        out.append(HistoryLine(session, status, r["marked_at"]))
    return out

