"""Each person's status in a session: present, late, absent or excused if expected, guest if not.

The rule is `status_of`: a mark decides present or late (an arrival counts even when excused);
without one, an excuse gives excused, else absent. Lateness counts from the scheduled start (else
the moment the session was started) plus the session's late-after minutes.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from core.attendance.marks import Attendance, Session, parse_time
from core.gallery.groups import groups_sql, read_groups
from core.gallery.records import rows

PRESENT, LATE, ABSENT, EXCUSED, GUEST = "present", "late", "absent", "excused", "guest"
STATUSES = (PRESENT, LATE, ABSENT, EXCUSED, GUEST)
LETTERS = {PRESENT: "P", LATE: "L", ABSENT: "A", EXCUSED: "E", GUEST: "G"}  # the group report's cells


@dataclass(frozen=True)
class RegisterLine:
    person_id: int | None
    name: str
    external_id: str | None
    groups: tuple[str, ...]
    status: str
    first_seen: str | None  # ISO time of their mark, with its UTC offset
    confidence: int | None  # 0-100 (50 = the bar) of an automatic mark
    manual: bool
    operator: str  # of a manual mark, or of the excuse
    reason: str

    @property
    def attended(self) -> bool:
        return self.status in (PRESENT, LATE, GUEST)


@dataclass(frozen=True)
class Register:
    session: Session
    lines: tuple[RegisterLine, ...]  # the expected, by name, then the guests
    has_list: bool  # a session of a group: it expects people (without one, anyone marked is present)

    def with_status(self, *statuses: str) -> list[RegisterLine]:
        return [line for line in self.lines if line.status in statuses]

    @property
    def expected(self) -> int:
        return sum(line.status != GUEST for line in self.lines) if self.has_list else 0

    @property
    def arrived(self) -> int:
        """Expected people marked (present or late)."""
        return sum(line.status in (PRESENT, LATE) for line in self.lines) if self.has_list else 0

    def summary(self) -> str:
        """One line: "present 17 / 24 (3 late), 5 absent, 2 excused, 1 guest"."""
        if not self.has_list:
            return f"{len(self.lines)} marked (no group: nobody is expected)"
        parts = [f"present {self.arrived} / {self.expected}"]
        late = len(self.with_status(LATE))
        if late:
            parts[0] += f" ({late} late)"
        for status, word in ((ABSENT, "absent" if not self.session.open else "not yet marked"),
                             (EXCUSED, "excused"), (GUEST, "guest")):
            n = len(self.with_status(status))
            if n:
                parts.append(f"{n} {word}{'s' if status == GUEST and n > 1 else ''}")
        return ", ".join(parts)


def lateness_cutoff(session: Session) -> _dt.datetime | None:
    """Marks after this moment are late (None: the session has no late-after)."""
    if session.late_after_min is None:
        return None
    start = parse_time(session.scheduled_start or session.started_at, "the session's start")
    return start + _dt.timedelta(minutes=session.late_after_min)


def status_of(marked_at: str | None, excused: bool, cutoff: _dt.datetime | None) -> str:
    """The status of an expected person (see the module docstring)."""
    if marked_at is None:
        return EXCUSED if excused else ABSENT
    if cutoff is not None and parse_time(marked_at) > cutoff:
        return LATE
    return PRESENT


def build_register(attendance: Attendance, session_id: int) -> Register:
    """The session's register, read in two queries."""
    session = attendance.session(session_id)
    cutoff = lateness_cutoff(session)
    db = attendance.db
    expected = rows(db, "SELECT e.person_id, e.person_name, e.external_id, e.excused_at, e.excused_by,"
                    " e.excused_reason, m.marked_at, m.confidence, m.manual, m.operator, m.reason, "
                    + groups_sql("e.person_id") + " AS groups FROM session_expected e"
                    " LEFT JOIN marks m ON m.session_id = e.session_id AND m.person_id = e.person_id"
                    " WHERE e.session_id = ? ORDER BY e.person_name COLLATE NOCASE, e.id", (session_id,))
    lines = []
    for r in expected:
        status = status_of(r["marked_at"], r["excused_at"] is not None, cutoff)
        marked = r["marked_at"] is not None
        lines.append(RegisterLine(
            r["person_id"], r["person_name"], r["external_id"], read_groups(r["groups"]), status, r["marked_at"],
            r["confidence"], bool(r["manual"]), r["operator"] if marked else r["excused_by"],
            r["reason"] if marked else r["excused_reason"]))
    guests = rows(db, "SELECT m.person_id, m.person_name, p.external_id, m.marked_at, m.confidence, m.manual,"
                  " m.operator, m.reason, " + groups_sql("m.person_id") + " AS groups FROM marks m"
                  " LEFT JOIN people p ON p.id = m.person_id WHERE m.session_id = ? AND NOT EXISTS (SELECT 1 FROM"
                  " session_expected e WHERE e.session_id = m.session_id AND e.person_id = m.person_id)"
                  " ORDER BY m.marked_at, m.id", (session_id,))
    has_list = bool(expected) or session.group_id is not None  # else: anyone marked is simply there
    for r in guests:
        status = GUEST if has_list else status_of(r["marked_at"], False, cutoff)
        lines.append(RegisterLine(r["person_id"], r["person_name"], r["external_id"], read_groups(r["groups"]), status,
                                  r["marked_at"], r["confidence"], bool(r["manual"]), r["operator"], r["reason"]))
    return Register(session, tuple(lines), has_list)
