"""Privacy in core: kept unknown faces (list, delete, enrol one, retention on a fixed clock), erasing a
person everywhere, and the admin PIN's salted hash."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import numpy as np
import pytest

from core.attendance.recogniser import encode_jpeg
from core.gallery.faces import FACE_TEMPLATE
from core.gallery.records import GalleryError
from core.storage import admin_pin
from core.storage.admin_pin import AdminPinError, hash_pin, verify_pin
from core.service import Changes, Rollcall
from core.vision.align import align_face
from core.vision.imageio import read_image
from tests.conftest import shared_path
from tests.core.gallery_fixtures import synthetic_sample, tiny_embedder, unit


def _seen(service: Rollcall, session_id: int | None, jpeg: bytes, when: str, score: float = 0.2) -> int:
    service.attendance.record_unknown(session_id, jpeg, score, "camera 1")
    row_id = service.db.execute("SELECT MAX(id) FROM unknown_sightings").fetchone()[0]
    with service.db.transaction() as conn:
        conn.execute("UPDATE unknown_sightings SET seen_at = ? WHERE id = ?", (when, row_id))
    return row_id


def test_kept_faces_are_listed_newest_first_and_deleted(service: Rollcall, reports: list[Changes]) -> None:
    session = service.start_session("Gym")
    old = _seen(service, session.id, b"old", "2026-01-01T09:00:00+00:00")
    new = _seen(service, None, b"new", "2026-01-02T09:00:00+00:00", 0.31)
    faces = service.unknown_faces()
    assert [f.id for f in faces] == [new, old]
    assert (faces[1].session_name, faces[1].jpeg, faces[1].source) == ("Gym", b"old", "camera 1")
    assert faces[0].session_name == "" and faces[0].best_score == pytest.approx(0.31)
    assert [f.id for f in service.unknown_faces(session.id)] == [old]
    reports.clear()
    assert service.delete_unknown([old, 999]) == 1
    assert reports == [Changes(marks=True)]
    assert [f.id for f in service.unknown_faces()] == [new]
    _seen(service, None, b"third", "2026-01-03T09:00:00+00:00")
    assert service.delete_all_unknown() == 2 and service.unknown_faces() == []
    reports.clear()
    assert service.delete_all_unknown() == 0 and reports == []  # nothing changed, nothing reported


def test_retention_purges_what_is_older_on_a_fixed_clock(service: Rollcall, reports: list[Changes], caplog) -> None:
    now = _dt.datetime(2026, 3, 31, 12, 0, tzinfo=_dt.timezone.utc)
    _seen(service, None, b"a", "2026-03-01T11:00:00+00:00")  # 30 days and an hour before
    kept = _seen(service, None, b"b", "2026-03-30T12:00:00+00:00")
    assert service.apply_retention(0, now=now) == 0 and len(service.unknown_faces()) == 2  # 0: keep
    with caplog.at_level("INFO", logger="core.service.privacy_ops"):
        assert service.apply_retention(30, now=now) == 1
    assert "1 kept face(s) purged" in caplog.text
    assert [f.id for f in service.unknown_faces()] == [kept]
    assert Changes(marks=True) in reports
    with pytest.raises(GalleryError, match="0 \\(until deleted\\)"):
        service.apply_retention(-1)


def _person(service: Rollcall, name: str) -> int:
    gallery = service.gallery
    model = gallery.active_model() or gallery.activate_model(tiny_embedder())
    vectors = unit(np.random.default_rng(len(name)).normal(size=(2, model.dim)))
    return gallery.add_person(name, [synthetic_sample(i) for i in range(2)], vectors, model,
                              groups=["Class"]).id


@pytest.mark.parametrize("erase_marks", [False, True])
def test_erasing_a_person_everywhere(service: Rollcall, reports: list[Changes], erase_marks: bool) -> None:
    ada, bo = _person(service, "Ada Lovelace"), _person(service, "Bo")
    session = service.start_session("Maths", "Class")
    service.attendance.mark(session.id, ada, "Ada Lovelace", score=0.8, evidence_jpeg=b"ada's face")
    service.attendance.mark(session.id, bo, "Bo", score=0.8, evidence_jpeg=b"bo's face")
    service.excuse(session.id, ada, operator="desk", reason="ill")
    reports.clear()
    erasure = service.erase_person(ada, erase_marks=erase_marks, operator="desk")
    assert reports == [Changes(people=True, samples=True, marks=True)]
    assert (erasure.samples, erasure.evidence, erasure.marks) == (2, 1, 1 if erase_marks else 0)
    count = lambda sql: service.db.execute(sql).fetchone()[0]  # noqa: E731
    assert count(f"SELECT COUNT(*) FROM samples WHERE person_id = {ada}") == 0
    assert count(f"SELECT COUNT(*) FROM templates WHERE person_id = {ada}") == 0
    assert count("SELECT COUNT(*) FROM embeddings") == 2  # Bo's only
    assert count("SELECT COUNT(*) FROM marks WHERE evidence_jpeg = 'ada''s face'") == 0
    assert service.attendance.evidence(service.attendance.marks(session.id)[-1].id) == b"bo's face"
    names = [m.person_name for m in service.attendance.marks(session.id)]
    assert names == (["Bo"] if erase_marks else ["Ada Lovelace", "Bo"])
    expected = [e.person_name for e in service.attendance.expected(session.id)]
    assert ("Ada Lovelace" in expected) is not erase_marks
    log = service.attendance.audit_log()
    erased = [e for e in log if e["action"] == "erase_person"]
    assert len(erased) == 1 and erased[0]["person_name"] == "" and erased[0]["operator"] == "desk"
    assert json.loads(erased[0]["details"])["marks"] == erasure.marks
    if erase_marks:  # nothing left that names her
        assert all("Ada" not in e["person_name"] for e in log)
    assert [p.name for p in service.gallery.people()] == ["Bo"]


def test_the_admin_pin_is_salted_hashed_and_checked() -> None:
    long_pin = "246813579024"  # 12 digits: too long to turn up by chance in the salt's or hash's hex
    assert long_pin not in hash_pin(long_pin)
    first, second = hash_pin("2468"), hash_pin("2468")
    assert first != second and first.split("$")[4] != second.split("$")[4]  # a new salt each time
    assert verify_pin("2468", first) and verify_pin(" 2468 ", second)
    assert not verify_pin("2469", first) and not verify_pin("", first) and not verify_pin("2468", "damaged")
    for bad in ("12", "12ab", "1234567890123", "", "١٢٣٤"):
        with pytest.raises(AdminPinError, match="4 to 12 digits"):
            hash_pin(bad)


def test_the_admin_pin_is_set_changed_and_cleared_with_the_current_one(service: Rollcall,
                                                                        reports: list[Changes]) -> None:
    assert not service.has_admin_pin and service.admin_pin_ok("anything")
    service.set_admin_pin("2468")
    assert reports == [Changes(settings=True)] and service.has_admin_pin
    stored = service.db.get_setting(admin_pin.ADMIN_PIN_KEY)
    parts = stored.split("$")  # scrypt$N$r$p$salt$hash: the salt and hash as hex, the PIN nowhere as such
    assert parts[0] == "scrypt" and len(parts) == 6 and "2468" not in parts
    assert all(len(field) >= 32 and int(field, 16) >= 0 for field in parts[4:])
    assert service.admin_pin_ok("2468") and not service.admin_pin_ok("1357")
    with pytest.raises(AdminPinError, match="current admin PIN is wrong"):
        service.set_admin_pin("1357", current="0000")
    service.set_admin_pin("1357", current="2468")
    assert service.admin_pin_ok("1357") and not service.admin_pin_ok("2468")
    with pytest.raises(AdminPinError):
        service.set_admin_pin(None, current="2468")
    service.set_admin_pin(None, current="1357")
    assert not service.has_admin_pin


@pytest.fixture(scope="module")
def default_pipeline():
    from core.vision.pipeline import build_pipeline

    return build_pipeline()


def test_a_kept_face_is_enrolled_through_the_quality_gates(tmp_path: Path, default_pipeline) -> None:
    image = read_image(shared_path("video", "hamilton_refs", "lin-manuel-miranda.png"))
    face = max(default_pipeline.detect(image), key=lambda d: d.width)
    crop = encode_jpeg(align_face(image, face.landmarks, FACE_TEMPLATE))  # as the recogniser keeps it
    noise = encode_jpeg(np.random.default_rng(0).integers(0, 255, (112, 112, 3), dtype=np.uint8))
    with Rollcall.open(tmp_path / "enrol.db") as service:
        service.install_pipeline(default_pipeline)
        face_id = _seen(service, None, crop, "2026-01-01T09:00:00+00:00")
        noise_id = _seen(service, None, noise, "2026-01-01T09:01:00+00:00")
        with pytest.raises(GalleryError, match="cannot be enrolled: no face found"):
            service.enrol_unknown(noise_id, "Nobody")
        assert service.gallery.people() == []
        person = service.enrol_unknown(face_id, "Lin-Manuel", external_id="LM1")
        assert (person.name, person.n_samples, person.external_id) == ("Lin-Manuel", 1, "LM1")
        assert [f.id for f in service.unknown_faces()] == [noise_id]  # the enrolled one is no longer kept
        # the new person is recognised from the original photo
        verdict = service.enroller().check(image, "again")
        assert verdict.ok
        assert service.enroller().possible_duplicates([verdict])[0].person.id == person.id
