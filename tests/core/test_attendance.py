from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from core.attendance.marks import Attendance
from core.storage.db import Database
from core.gallery.store import Gallery, GalleryError, NotFoundError
from tests.core.gallery_fixtures import synthetic_sample, tiny_embedder, unit


@pytest.fixture
def env(tmp_path: Path):
    db = Database(tmp_path / "a.db")
    gallery = Gallery(db)
    model = gallery.register_model(tiny_embedder(0))
    people = [gallery.add_person(name, [synthetic_sample(i)], unit(np.ones((1, 512))), model)
              for i, name in enumerate(["Ana", "Bo", "Zoë"])]
    yield Attendance(db), gallery, people
    db.close()


def test_a_person_is_marked_at_most_once_per_session(env) -> None:
    att, _, (ana, bo, _) = env
    s = att.start_session("Maths 7B")
    first = att.mark(s.id, ana.id, ana.name, score=0.91, source="camera 0", evidence_jpeg=b"jpeg")
    assert first is not None and first.person_name == "Ana" and not first.manual
    assert att.mark(s.id, ana.id, ana.name, score=0.95) is None
    assert att.evidence(first.id) == b"jpeg"
    other = att.start_session("Maths 7B again")
    assert att.mark(other.id, ana.id, ana.name) is not None
    assert len(att.marks(s.id)) == 1 and len(att.marks()) == 2
    att.mark(other.id, bo.id, bo.name)
    assert att.mark_counts() == {s.id: 1, other.id: 2}


def test_manual_mark_and_unmark_are_audited(env) -> None:
    att, _, (ana, bo, _) = env
    s = att.start_session("Lab")
    with pytest.raises(GalleryError, match="reason"):
        att.manual_mark(s.id, bo.id, bo.name, operator="Ms Lee", reason="")
    m = att.manual_mark(s.id, bo.id, bo.name, operator="Ms Lee", reason="camera was off")
    assert m.manual and m.operator == "Ms Lee" and m.reason == "camera was off"
    with pytest.raises(GalleryError, match="already marked"):
        att.manual_mark(s.id, bo.id, bo.name, operator="Ms Lee", reason="again")
    att.unmark(s.id, bo.id, operator="Mr Kay", reason="left early")
    assert att.marks(s.id) == []
    log = att.audit_log(s.id)
    assert [(e["action"], e["operator"], e["reason"]) for e in log] == [
        ("mark", "Ms Lee", "camera was off"), ("unmark", "Mr Kay", "left early")]
    with pytest.raises(NotFoundError):
        att.unmark(s.id, bo.id, operator="x", reason="y")


def test_filters(env) -> None:
    att, _, (ana, bo, zoe) = env
    s = att.start_session("Art")
    att.mark(s.id, ana.id, ana.name, score=0.9)
    att.manual_mark(s.id, bo.id, bo.name, operator="op", reason="late bus")
    assert [m.person_name for m in att.marks(s.id, manual=True)] == ["Bo"]
    assert [m.person_name for m in att.marks(person_id=ana.id)] == ["Ana"]
    today = dt.date.today().isoformat()
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    assert len(att.marks(start=today, end=tomorrow)) == 2
    assert att.marks(start=tomorrow) == []


def test_deleting_a_person_keeps_their_marks_by_name_unless_erased(env) -> None:
    att, gallery, (ana, bo, _) = env
    s = att.start_session("History")
    att.mark(s.id, ana.id, ana.name)
    att.mark(s.id, bo.id, bo.name)
    gallery.delete_person(ana.id)
    kept = att.marks(s.id)
    assert [(m.person_name, m.person_id) for m in kept] == [("Ana", None), ("Bo", bo.id)]
    gallery.delete_person(bo.id, erase_history=True)
    assert [m.person_name for m in att.marks(s.id)] == ["Ana"]


def test_sessions_start_stop_and_find(env) -> None:
    att, _, _ = env
    s = att.start_session("Chemistry")
    assert s.open and att.open_or_start("Chemistry").id == s.id
    stopped = att.stop_session(s.id)
    assert not stopped.open and stopped.ended_at
    assert att.open_or_start("Chemistry").id != s.id  # a closed session is not reused
    with pytest.raises(GalleryError):
        att.start_session("  ")


def test_unknown_sightings_and_retention(env) -> None:
    att, _, _ = env
    s = att.start_session("Gym")
    att.record_unknown(s.id, b"jpeg", 0.2, "camera 1")
    att.db.execute("UPDATE unknown_sightings SET seen_at = '2000-01-01T00:00:00+00:00'")
    att.record_unknown(s.id, b"jpeg2", 0.3, "camera 1")
    assert att.count_unknown(s.id) == 2
    assert att.purge_unknown(retention_days=30) == 1
    assert att.count_unknown() == 1


def test_a_manual_mark_whose_audit_fails_is_not_kept(env, monkeypatch) -> None:
    att, _, (ana, _, _) = env
    s = att.start_session("Art")

    def broken_audit(*args, **kwargs):
        raise sqlite3.IntegrityError("audit refused")

    monkeypatch.setattr(Attendance, "_audit", broken_audit)
    with pytest.raises(sqlite3.IntegrityError):
        att.manual_mark(s.id, ana.id, ana.name, operator="op", reason="late")
    assert att.marks(s.id) == [] and not att.is_marked(s.id, ana.id)
    monkeypatch.undo()
    assert att.manual_mark(s.id, ana.id, ana.name, operator="op", reason="late").manual
    with pytest.raises(NotFoundError, match="no session with id 999"):
        att.session(999)
