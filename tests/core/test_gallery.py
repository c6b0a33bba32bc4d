from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from core.storage.db import Database
from core.gallery.store import CancelledError, Gallery, GalleryError, NotFoundError
from core.gallery.faces import FaceSample, enrolment_embeddings, model_crops
from core.gallery.records import from_blob
from tests.core.gallery_fixtures import synthetic_sample, tiny_embedder, unit


@pytest.fixture
def gallery(tmp_path) -> Gallery:
    db = Database(tmp_path / "g.db")
    yield Gallery(db)
    db.close()


@pytest.fixture(scope="module")
def embedder_a():
    return tiny_embedder(0, "a")


@pytest.fixture(scope="module")
def embedder_b():
    return tiny_embedder(1, "b")


def _enrol(gallery: Gallery, embedder, name: str, n: int, seed: int):
    model = gallery.register_model(embedder)
    samples = [synthetic_sample(seed * 100 + i) for i in range(n)]
    emb = enrolment_embeddings(embedder, model_crops(embedder, [(s.face, s.landmarks) for s in samples]))
    return gallery.add_person(name, samples, emb, model)


def test_template_is_the_normalised_mean(gallery: Gallery, embedder_a) -> None:
    model = gallery.register_model(embedder_a)
    vectors = unit(np.random.default_rng(0).normal(size=(3, 512)))
    person = gallery.add_person("Ada", [synthetic_sample(i) for i in range(3)], vectors, model, groups=["7B"])
    ids, names, matrix = gallery.templates(model.id)
    assert list(ids) == [person.id] and names == ["Ada"]
    assert np.allclose(matrix[0], unit(vectors.mean(0)), atol=1e-6)
    assert person.n_samples == 3 and person.groups == ("7B",)


def test_samples_keep_their_face_and_landmarks(gallery: Gallery, embedder_a) -> None:
    person = _enrol(gallery, embedder_a, "Ben", 2, seed=1)
    sample = gallery.samples(person.id)[0]
    face = gallery.sample_face(sample.id)
    assert face.shape == (256, 256, 3)
    assert np.abs(face.astype(int) - synthetic_sample(100).face.astype(int)).mean() < 2  # JPEG of the same pixels


def test_adding_and_removing_samples_updates_the_template(gallery: Gallery, embedder_a) -> None:
    model = gallery.register_model(embedder_a)
    v = unit(np.eye(512, dtype=np.float32)[:3])
    person = gallery.add_person("Cy", [synthetic_sample(1)], v[:1], model)
    gallery.add_samples(person.id, [synthetic_sample(2), synthetic_sample(3)], v[1:], model)
    assert np.allclose(gallery.templates(model.id)[2][0], unit(v.sum(0)), atol=1e-6)
    first = gallery.samples(person.id)[0]
    gallery.remove_sample(first.id)
    assert np.allclose(gallery.templates(model.id)[2][0], unit(v[1:].sum(0)), atol=1e-6)
    assert gallery.person(person.id).n_samples == 2


def test_the_last_sample_cannot_be_removed(gallery: Gallery, embedder_a) -> None:
    person = _enrol(gallery, embedder_a, "Di", 1, seed=2)
    with pytest.raises(GalleryError, match="last sample"):
        gallery.remove_sample(gallery.samples(person.id)[0].id)


def test_rename_search_and_external_ids(gallery: Gallery, embedder_a) -> None:
    model = gallery.register_model(embedder_a)
    v = unit(np.ones((1, 512)))
    p = gallery.add_person("Eve", [synthetic_sample(5)], v, model, external_id="S-1")
    with pytest.raises(GalleryError, match="(?i)external id"):
        gallery.add_person("Eve Two", [synthetic_sample(6)], v, model, external_id="S-1")
    assert gallery.count_people() == 1  # the failed enrolment left nothing behind
    gallery.update_person(p.id, name="Evelyn")
    assert [x.name for x in gallery.people("evel")] == ["Evelyn"]
    assert [x.id for x in gallery.find_people("S-1")] == [p.id]
    with pytest.raises(GalleryError, match="needs a name"):
        gallery.update_person(p.id, name="  ")


def test_enrolment_without_samples_saves_nothing(gallery: Gallery, embedder_a) -> None:
    model = gallery.register_model(embedder_a)
    with pytest.raises(GalleryError, match="nothing was saved"):
        gallery.add_person("Fay", [], np.zeros((0, 512)), model)
    with pytest.raises(GalleryError, match="dimensions"):
        gallery.add_person("Fay", [synthetic_sample(1)], np.ones((1, 128)), model)
    assert gallery.count_people() == 0


def test_delete_person_erases_face_data(gallery: Gallery, embedder_a) -> None:
    person = _enrol(gallery, embedder_a, "Gus", 2, seed=3)
    gallery.delete_person(person.id, operator="desk")
    for table in ("samples", "embeddings", "templates", "people"):
        assert gallery.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0
    with pytest.raises(NotFoundError):
        gallery.person(person.id)
    assert gallery.db.execute("SELECT action, person_name FROM audit").fetchall() == [("erase_person", "")]


def test_model_switch_re_embeds_and_switching_back_is_instant(gallery: Gallery, embedder_a, embedder_b, monkeypatch) -> None:
    gallery.activate_model(embedder_a)
    _enrol(gallery, embedder_a, "Hal", 2, seed=4)
    _enrol(gallery, embedder_a, "Ida", 3, seed=5)
    a = gallery.active_model()
    calls = []
    record_b = gallery.activate_model(embedder_b, progress=lambda d, t: calls.append((d, t)))
    assert gallery.active_model().id == record_b.id != a.id
    assert calls[0] == (0, 5) and calls[-1] == (5, 5)
    ids_b, _, matrix_b = gallery.templates(record_b.id)
    assert len(ids_b) == 2 and matrix_b.shape[1] == 512
    # templates of b equal the mean of b's embeddings of the stored faces
    labels, emb = gallery.sample_embeddings(record_b.id)
    assert np.allclose(matrix_b[0], unit(emb[labels == ids_b[0]].mean(0)), atol=1e-5)

    def no_embedding(*args, **kwargs):
        raise AssertionError("switching back must not re-embed")

    monkeypatch.setattr(type(embedder_a), "embed", no_embedding)
    assert gallery.activate_model(embedder_a).id == a.id


def test_cancelled_switch_keeps_the_previous_model(gallery: Gallery, embedder_a, embedder_b) -> None:
    gallery.activate_model(embedder_a)
    for i in range(3):
        _enrol(gallery, embedder_a, f"P{i}", 2, seed=10 + i)
    before = gallery.active_model()
    with pytest.raises(CancelledError):
        gallery.activate_model(embedder_b, batch_size=2, cancelled=iter([False, True]).__next__)
    assert gallery.active_model().id == before.id
    b = gallery.register_model(embedder_b)
    assert len(gallery.templates(b.id)[0]) == 0  # no template of b for anyone: nothing mixed
    partial = gallery.db.execute("SELECT COUNT(*) FROM embeddings WHERE model_id = ?", (b.id,)).fetchone()[0]
    assert partial == 2  # the first batch is kept and reused
    gallery.activate_model(embedder_b)
    assert len(gallery.templates(b.id)[0]) == 3


def test_threshold_is_per_model(gallery: Gallery, embedder_a) -> None:
    m = gallery.register_model(embedder_a)
    assert m.threshold == 0.5 and m.threshold_origin == "default"
    m = gallery.set_threshold(m.id, 0.42, origin="calibrated")
    assert (m.threshold, m.threshold_origin) == (0.42, "calibrated")
    with pytest.raises(GalleryError):
        gallery.set_threshold(m.id, 1.5)


def test_vectors_are_stored_little_endian_float32(gallery: Gallery, embedder_a) -> None:
    model = gallery.register_model(embedder_a)
    v = unit(np.arange(1, 513, dtype=np.float32)[None])
    gallery.add_person("Jo", [synthetic_sample(9)], v, model)
    blob = gallery.db.execute("SELECT vector FROM embeddings").fetchone()[0]
    assert len(blob) == 512 * 4 and np.allclose(from_blob(blob), v[0])


def test_sqlite_utils_writes_join_our_transaction_and_roll_back_with_it(tmp_path) -> None:
    """sqlite-utils (4.x) writes inside an open transaction use a savepoint, never COMMIT: a failure after
    them undoes them, and no other connection ever sees them."""
    db = Database(tmp_path / "t.db")
    other = sqlite3.connect(tmp_path / "t.db")
    seen = {}
    with pytest.raises(RuntimeError, match="after the writes"):
        with db.transaction():
            people = db.db["people"].insert({"name": "Ada", "created_at": "t", "updated_at": "t"})
            people.update(people.last_rowid, {"notes": "x"})
            db.db["settings"].upsert({"key": "k", "value": "v"}, pk="key")
            db.db["audit"].insert_all([{"at": "t", "operator": "o", "action": "a"}] * 3)
            seen["open"] = db.conn.in_transaction
            seen["elsewhere"] = [other.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                                 for t in ("people", "settings", "audit")]
            raise RuntimeError("after the writes")
    assert seen == {"open": True, "elsewhere": [0, 0, 0]}
    assert [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("people", "settings", "audit")] == [0, 0, 0]
    other.close()
    db.close()


def test_a_failed_enrolment_leaves_nothing_behind(gallery: Gallery, embedder_a, monkeypatch) -> None:
    model = gallery.register_model(embedder_a)
    original, calls = FaceSample.jpeg, []

    def fail_on_third(self):
        calls.append(1)
        if len(calls) == 3:  # the person and two samples are already inserted in the transaction
            raise GalleryError("could not encode a face image")
        return original(self)

    monkeypatch.setattr(FaceSample, "jpeg", fail_on_third)
    with pytest.raises(GalleryError, match="encode"):
        gallery.add_person("Half", [synthetic_sample(i) for i in range(4)], unit(np.ones((4, 512))), model)
    for table in ("people", "samples", "embeddings", "templates"):
        assert gallery.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0
    monkeypatch.setattr(FaceSample, "jpeg", original)
    assert gallery.add_person("Whole", [synthetic_sample(0)], unit(np.ones((1, 512))), model).n_samples == 1


def test_lookups_of_missing_rows_say_what_is_missing(gallery: Gallery, embedder_a) -> None:
    with pytest.raises(NotFoundError, match=r"no model with id 41 in .*g\.db"):
        gallery.model(41)
    with pytest.raises(NotFoundError, match="no sample with id 7"):
        gallery.sample_face(7)
    with pytest.raises(NotFoundError, match="no sample with id 7"):
        gallery.remove_sample(7)
    with pytest.raises(NotFoundError, match="no person with id 3"):
        gallery.update_person(3, name="X")
    with pytest.raises(NotFoundError, match="no model with id 9"):
        gallery.set_threshold(9, 0.3)
