"""The faces nobody matched that were kept for review (table `unknown_sightings`): list them with
their crop, delete some or all, and purge those older than the retention period.

Writes run inside `Database.transaction()`; the service (core.service.privacy_ops) reports them.
"""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass

from core.gallery.records import GalleryError, NotFoundError, rows
from core.storage.db import Database

logger = logging.getLogger(__name__)

MAX_RETENTION_DAYS = 3650  # ten years; 0 keeps them until deleted by hand

_SQL = ("SELECT u.id, u.seen_at, u.session_id, COALESCE(s.name, '') AS session_name, u.source, u.best_score,"
        " u.face_jpeg FROM unknown_sightings u LEFT JOIN sessions s ON s.id = u.session_id")


@dataclass(frozen=True)
class UnknownFace:
    id: int
    seen_at: str
    session_id: int | None
    session_name: str  # '' without a session
    source: str
    best_score: float | None  # the best match's raw cosine (below the threshold)
    jpeg: bytes  # the aligned face crop (112x112)


def _face(row: dict) -> UnknownFace:
    return UnknownFace(row["id"], row["seen_at"], row["session_id"], row["session_name"], row["source"],
                       row["best_score"], row["face_jpeg"])


def unknown_faces(db: Database, session_id: int | None = None) -> list[UnknownFace]:
    """The kept faces, newest first (of one session, or all)."""
    where, params = (" WHERE u.session_id = ?", (session_id,)) if session_id is not None else ("", ())
    return [_face(r) for r in rows(db, _SQL + where + " ORDER BY u.seen_at DESC, u.id DESC", params)]


def unknown_face(db: Database, sighting_id: int) -> UnknownFace:
    found = rows(db, _SQL + " WHERE u.id = ?", (sighting_id,))
    if not found:
        raise NotFoundError(f"no kept unknown face with id {sighting_id} (deleted or purged meanwhile? "
                            f"refresh the list)")
    return _face(found[0])


def delete_unknown(db: Database, sighting_ids: list[int]) -> int:
    """Delete these kept faces (ids already gone are skipped); how many were deleted."""
    ids = sorted({int(i) for i in sighting_ids})
    if not ids:
        return 0
    with db.transaction() as conn:
        return conn.execute(f"DELETE FROM unknown_sightings WHERE id IN ({','.join('?' * len(ids))})",
                            tuple(ids)).rowcount


def delete_all_unknown(db: Database) -> int:
    with db.transaction() as conn:
        return conn.execute("DELETE FROM unknown_sightings").rowcount


def check_retention(days: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_RETENTION_DAYS:
        raise GalleryError(f"keep unknown faces for 0 (until deleted) to {MAX_RETENTION_DAYS} days, got {days!r}")
    return days


def purge_older(db: Database, days: float, now: _dt.datetime | None = None) -> int:
    """Delete kept faces seen more than `days` before `now` (default: the current time); how many."""
    moment = (now or _dt.datetime.now()).astimezone()
    cutoff = (moment - _dt.timedelta(days=days)).isoformat(timespec="seconds")
    with db.transaction() as conn:
        return conn.execute("DELETE FROM unknown_sightings WHERE seen_at < ?", (cutoff,)).rowcount
