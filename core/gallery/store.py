"""The gallery: people, their face samples, per-model embeddings and templates, and the models.

Embeddings and templates are stored per (sample, model) and (person, model):
switching the active model computes what is missing, then switches all
templates in one transaction; switching back is instant. A template is the
L2-normalised mean of the person's sample embeddings for that model. The
stored face images and their embedding are `core.gallery.faces`; the records
handed out are `core.gallery.records`.

All writes go through this module, each inside one `Database.transaction()`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from core.errors import path_text
from core.storage.db import Database
from core.gallery.erasure import Erasure, erase_person
from core.gallery.faces import enrolment_embeddings, model_crops
from core.gallery.groups import groups_sql, read_groups, write_person_groups
from core.gallery.records import (
    CancelledError, GalleryError, ModelRecord, NotFoundError, Person, SampleInfo, clean_name, clean_text,
    from_blob, from_row, get_row, normalise, now_iso, rows, to_blob)
from core.vision.models.base import Embedder

if TYPE_CHECKING:
    from core.gallery.faces import FaceSample

logger = logging.getLogger(__name__)

# What `from core.gallery.store import ...` offers: the store and the records and errors of its methods.
__all__ = [
    "ACTIVE_MODEL_KEY", "PREVIOUS_MODEL_KEY", "CancelledError", "Gallery", "GalleryError", "ModelRecord",
    "NotFoundError", "Person", "SampleInfo",
]

ACTIVE_MODEL_KEY = "active_model_id"
PREVIOUS_MODEL_KEY = "previous_model_id"  # the model a roll back returns to

_PERSON_SQL = (
    "SELECT p.id, p.name, p.external_id, p.notes, p.created_at, p.updated_at, COUNT(s.id) AS n_samples,"
    f" {groups_sql('p.id')} AS groups"
    " FROM people p LEFT JOIN samples s ON s.person_id = p.id"
)
PERSON_FIELDS = ("name", "external_id", "groups", "notes")  # what can be set on a person


def _person(row: dict) -> Person:
    return from_row(Person, {**row, "groups": read_groups(row["groups"])})


class Gallery:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ models

    def register_model(self, embedder: Embedder, *, threshold: float | None = None, origin: str = "default") -> ModelRecord:
        """The model's record, created on first use (identified by the hash of its weights file)."""
        digest = embedder.identity
        found = rows(self.db, "SELECT * FROM models WHERE file_hash = ?", (digest,))
        if found:
            record = from_row(ModelRecord, found[0])
            moved = (embedder.source and record.source != embedder.source and Path(embedder.source).is_file()
                     and not Path(record.source).is_file())
            if moved:  # the same weights, found again at a new place: remember where they are now
                with self.db.transaction():
                    self.db.db["models"].update(record.id, {"source": embedder.source})
                return self.model(record.id)
            return record
        value = threshold if threshold is not None else embedder.model.default_threshold
        models = self.db.db["models"]
        with self.db.transaction():
            models.insert({"name": clean_name(embedder.name, "a model"), "arch": embedder.arch, "file_hash": digest, "source": embedder.source,
                           "dim": embedder.dim, "threshold": float(value), "threshold_origin": origin,
                           "created_at": now_iso()})
        return self.model(models.last_rowid)

    def model(self, model_id: int) -> ModelRecord:
        return from_row(ModelRecord, get_row(self.db, "models", model_id, "model"))

    def models(self) -> list[ModelRecord]:
        return [from_row(ModelRecord, r) for r in rows(self.db, "SELECT * FROM models ORDER BY id")]

    def active_model(self) -> ModelRecord | None:
        value = self.db.get_setting(ACTIVE_MODEL_KEY)
        return self.model(int(value)) if value else None

    def set_threshold(self, model_id: int, threshold: float, origin: str = "manual") -> ModelRecord:
        if not -1.0 <= threshold <= 1.0:
            raise GalleryError(f"a cosine threshold must be between -1 and 1, got {threshold}")
        self.model(model_id)
        with self.db.transaction():
            self.db.db["models"].update(model_id, {"threshold": threshold, "threshold_origin": origin})
        return self.model(model_id)

    def activate_model(
        self,
        embedder: Embedder,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        batch_size: int = 32,
    ) -> ModelRecord:
        """Make `embedder` the active model: embed every stored sample it has not seen, then switch
        all templates at once. Cancelling (or a crash) leaves the previous model active and the
        embeddings computed so far kept, so a later attempt continues where this one stopped."""
        record = self.embed_samples(embedder, progress=progress, cancelled=cancelled, batch_size=batch_size)
        return self.switch_model(record.id)

    def embed_samples(
        self,
        embedder: Embedder,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        batch_size: int = 32,
    ) -> ModelRecord:
        """Store `embedder`'s embedding of every sample that has none for it yet (batch by batch, each
        batch its own transaction); the active model does not change. Returns the model's record."""
        record = self.register_model(embedder)
        todo = self.missing_embeddings(record.id)
        done = 0
        if progress:
            progress(0, len(todo))
        for start in range(0, len(todo), batch_size):
            if cancelled and cancelled():
                raise CancelledError("model switch cancelled; the previous model stays active")
            ids = todo[start : start + batch_size]
            faces = self._stored_faces(ids)
            vectors = enrolment_embeddings(embedder, model_crops(embedder, faces))
            with self.db.transaction():
                self.db.db["embeddings"].insert_all(
                    ({"sample_id": sid, "model_id": record.id, "vector": to_blob(v)} for sid, v in zip(ids, vectors)),
                    replace=True,
                )
            done += len(ids)
            if progress:
                progress(done, len(todo))
        return record

    def missing_embeddings(self, model_id: int) -> list[int]:
        """Ids of the samples that have no embedding for this model."""
        return [r["id"] for r in rows(
            self.db, "SELECT s.id FROM samples s LEFT JOIN embeddings e ON e.sample_id = s.id AND e.model_id = ?"
            " WHERE e.sample_id IS NULL ORDER BY s.id", (model_id,))]

    def switch_model(self, model_id: int) -> ModelRecord:
        """In one transaction: rebuild every template of the model, make it the active one and remember
        the model it replaces (`previous_model`). Refused while some sample has no embedding for it."""
        record = self.model(model_id)
        missing = self.missing_embeddings(model_id)
        if missing:
            raise GalleryError(f"model {record.name} has no embedding yet for {len(missing)} sample(s); "
                               f"compute them first (activate_model does)")
        current = self.db.get_setting(ACTIVE_MODEL_KEY)
        with self.db.transaction() as conn:
            self._rebuild_templates(record.id)
            if current and int(current) != record.id:
                self.db.set_setting(PREVIOUS_MODEL_KEY, current, conn)
            self.db.set_setting(ACTIVE_MODEL_KEY, str(record.id), conn)
        return record

    def previous_model(self) -> ModelRecord | None:
        """The model that was active before the current one (what a roll back returns to), if any."""
        value = self.db.get_setting(PREVIOUS_MODEL_KEY)
        if not value:
            return None
        try:
            return self.model(int(value))
        except NotFoundError:
            return None

    # ------------------------------------------------------------------ people

    def add_person(
        self,
        name: str,
        samples: list[FaceSample],
        embeddings: np.ndarray,
        model: ModelRecord,
        *,
        external_id: str | None = None,
        groups: Iterable[str] = (),
        notes: str = "",
    ) -> Person:
        """Create a person with their samples, embeddings (for `model`) and template, in one transaction."""
        name = clean_name(name)
        if not samples:
            raise GalleryError(f"no usable face samples for {name}; nothing was saved")
        self._check_embeddings(samples, embeddings, model)
        with self.db.transaction() as conn:
            person_id = self.insert_person(conn, name, external_id, groups, notes)
            self._insert_samples(person_id, samples, embeddings, model.id, now_iso())
            self._rebuild_templates(model.id, person_id)
        return self.person(person_id)

    def add_listed_person(self, name: str, *, external_id: str | None = None, groups: Iterable[str] = (),
                          notes: str = "") -> Person:
        """A person from a class list, with no face yet: expected in their groups' sessions (absent until
        marked by hand), recognised once photos are added."""
        name = clean_name(name)
        with self.db.transaction() as conn:
            person_id = self.insert_person(conn, name, external_id, groups, notes)
        return self.person(person_id)

    def add_samples(self, person_id: int, samples: list[FaceSample], embeddings: np.ndarray, model: ModelRecord) -> Person:
        self.person(person_id)
        self._check_embeddings(samples, embeddings, model)
        with self.db.transaction() as conn:
            self._insert_samples(person_id, samples, embeddings, model.id, now_iso())
            conn.execute("UPDATE people SET updated_at = ? WHERE id = ?", (now_iso(), person_id))
            for mid in self._model_ids():
                self._rebuild_templates(mid, person_id)
        return self.person(person_id)

    def remove_sample(self, sample_id: int) -> None:
        person_id = get_row(self.db, "samples", sample_id, "sample")["person_id"]
        left = rows(self.db, "SELECT COUNT(*) AS n FROM samples WHERE person_id = ?", (person_id,))[0]["n"]
        if left <= 1:
            raise GalleryError("this is the person's last sample; delete the person instead")
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM samples WHERE id = ?", (sample_id,))
            conn.execute("UPDATE people SET updated_at = ? WHERE id = ?", (now_iso(), person_id))
            for mid in self._model_ids():
                self._rebuild_templates(mid, person_id)

    def update_person(self, person_id: int, **fields: object) -> Person:
        """Edit any of PERSON_FIELDS (groups: the names of every group they are to be in)."""
        self.person(person_id)
        with self.db.transaction() as conn:
            self.write_person(conn, person_id, fields, replace_groups=True)
        return self.person(person_id)

    def delete_person(self, person_id: int, *, erase_history: bool = False, operator: str = "") -> Erasure:
        """Erase the person everywhere (`core.gallery.erasure`): samples, embeddings, templates and the
        evidence crops of their marks; the marks keep the name (the link to the person is cleared) unless
        `erase_history` also deletes them. Audited without the name."""
        return erase_person(self.db, person_id, erase_marks=erase_history, operator=operator)

    def person(self, person_id: int) -> Person:
        found = rows(self.db, _PERSON_SQL + " WHERE p.id = ? GROUP BY p.id", (person_id,))
        if not found:
            raise NotFoundError(f"no person with id {person_id} in {self.db.label} (deleted? refresh the list)")
        return _person(found[0])

    def people(self, search: str = "") -> list[Person]:
        if search:
            like = f"%{search.strip()}%"
            found = rows(self.db, _PERSON_SQL + " WHERE p.name LIKE ? OR p.external_id LIKE ? OR EXISTS (SELECT 1"
                         " FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.person_id = p.id"
                         " AND g.name LIKE ?) GROUP BY p.id ORDER BY p.name COLLATE NOCASE", (like, like, like))
        else:
            found = rows(self.db, _PERSON_SQL + " GROUP BY p.id ORDER BY p.name COLLATE NOCASE")
        return [_person(r) for r in found]

    def find_people(self, name: str) -> list[Person]:
        found = rows(self.db, _PERSON_SQL + " WHERE p.name = ? COLLATE NOCASE OR p.external_id = ? GROUP BY p.id",
                     (name.strip(), name.strip()))
        return [_person(r) for r in found]

    def named(self, name: str, exclude: int | None = None) -> list[Person]:
        """People with this name (case-insensitive), but `exclude`: a duplicate name is worth a warning."""
        found = rows(self.db, _PERSON_SQL + " WHERE p.name = ? COLLATE NOCASE GROUP BY p.id", (clean_name(name),))
        return [_person(r) for r in found if r["id"] != exclude]

    def with_external_id(self, external_id: str) -> Person | None:
        found = rows(self.db, _PERSON_SQL + " WHERE p.external_id = ? GROUP BY p.id", (external_id,))
        return _person(found[0]) if found else None

    def samples(self, person_id: int) -> list[SampleInfo]:
        found = rows(self.db, "SELECT id, person_id, face_size, sharpness, yaw, det_score, source, captured_at"
                     " FROM samples WHERE person_id = ? ORDER BY id", (person_id,))
        return [from_row(SampleInfo, r) for r in found]

    def stored_faces(self) -> Iterator[tuple[Person, list[tuple[np.ndarray, np.ndarray]]]]:
        """Every person with the stored face images of their samples and the landmarks in them
        (FACE_TEMPLATE layout), person by person; read only (the trainer's gallery dataset)."""
        for person in self.people():
            ids = [s.id for s in self.samples(person.id)]
            if ids:
                yield person, self._stored_faces(ids)

    def sample_digests(self) -> list[tuple[Person, list[tuple[int, str, np.ndarray]]]]:
        """Every person with (sample id, sha256 of the stored face image, landmarks in it) per sample: what a
        training manifest refers to; read only, no image is decoded."""
        out = []
        for person in self.people():
            found = rows(self.db, "SELECT id, face_jpeg, landmarks FROM samples WHERE person_id = ? ORDER BY id",
                         (person.id,))
            digests = [(r["id"], hashlib.sha256(r["face_jpeg"]).hexdigest(),
                        np.array(json.loads(r["landmarks"]), dtype=np.float64)) for r in found]
            if digests:
                out.append((person, digests))
        return out

    def sample_faces(self, sample_ids: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """The stored face images of these samples and their landmarks, in the order given."""
        missing = set(sample_ids) - {r["id"] for r in rows(
            self.db, f"SELECT id FROM samples WHERE id IN ({','.join('?' * len(sample_ids))})", tuple(sample_ids))}
        if missing:
            raise NotFoundError(f"no sample(s) with id {', '.join(map(str, sorted(missing)[:5]))} in {self.db.label}")
        return self._stored_faces(list(sample_ids))

    def sample_face(self, sample_id: int) -> np.ndarray:
        jpeg = get_row(self.db, "samples", sample_id, "sample")["face_jpeg"]
        return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)

    def count_people(self) -> int:
        return rows(self.db, "SELECT COUNT(*) AS n FROM people")[0]["n"]

    # ------------------------------------------------------------------ templates

    def templates(self, model_id: int) -> tuple[np.ndarray, list[str], np.ndarray]:
        """(person ids, names, (P, D) matrix of unit templates) for one model, in one query."""
        dim = self.model(model_id).dim
        found = rows(self.db, "SELECT t.person_id, p.name, t.vector FROM templates t"
                     " JOIN people p ON p.id = t.person_id WHERE t.model_id = ? ORDER BY t.person_id", (model_id,))
        ids = np.fromiter((r["person_id"] for r in found), dtype=np.int64, count=len(found))
        # one copy from the blobs straight into the matrix (little-endian float32 = native here)
        matrix = np.frombuffer(b"".join([r["vector"] for r in found]), dtype="<f4").reshape(len(found), dim)
        return ids, [r["name"] for r in found], matrix.astype(np.float32, copy=False)

    def sample_embeddings(self, model_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(person id per sample, (S, D) sample embeddings) for one model."""
        found = rows(self.db, "SELECT s.person_id, e.vector FROM embeddings e JOIN samples s ON s.id = e.sample_id"
                     " WHERE e.model_id = ? ORDER BY s.person_id, s.id", (model_id,))
        dim = self.model(model_id).dim
        if not found:
            return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
        labels = np.array([r["person_id"] for r in found], dtype=np.int64)
        return labels, np.frombuffer(b"".join(r["vector"] for r in found), dtype="<f4").reshape(len(found), dim).copy()

    # ------------------------------------------------------------------ internals

    @staticmethod
    def write_person(conn: sqlite3.Connection, person_id: int, fields: dict[str, object], *,
                     replace_groups: bool) -> None:
        """Inside the caller's transaction: set PERSON_FIELDS of a person; `groups` are joined, and with
        `replace_groups` every other group is left."""
        unknown = set(fields) - set(PERSON_FIELDS)
        if unknown:
            raise GalleryError(f"unknown person fields: {', '.join(sorted(unknown))}")
        values: dict[str, object] = {"updated_at": now_iso()}
        if "name" in fields:
            values["name"] = clean_name(fields["name"])  # type: ignore[arg-type]
        if "external_id" in fields:
            values["external_id"] = clean_name(fields["external_id"], "an External ID", required=False) or None  # type: ignore[arg-type]
        if "notes" in fields:
            values["notes"] = clean_text(fields["notes"], "the notes", multiline=True)  # type: ignore[arg-type]
        try:
            conn.execute(f"UPDATE people SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                         (*values.values(), person_id))
        except sqlite3.IntegrityError:
            raise GalleryError(f"another person already has the External ID '{values['external_id']}'") from None
        if "name" in values:  # attendance shows the person's current name while they are enrolled
            conn.execute("UPDATE marks SET person_name = ? WHERE person_id = ?", (values["name"], person_id))
        if "groups" in fields:
            write_person_groups(conn, person_id, fields["groups"], replace=replace_groups)  # type: ignore[arg-type]

    @staticmethod
    def insert_person(conn: sqlite3.Connection, name: str, external_id: str | None, groups: Iterable[str],
                      notes: str) -> int:
        """Inside the caller's transaction: the people row and its groups; the new id."""
        external_id = clean_name(external_id, "an External ID", required=False) or None
        notes = clean_text(notes, "the notes", multiline=True)
        stamp = now_iso()
        try:
            person_id = conn.execute("INSERT INTO people(name, external_id, notes, created_at, updated_at)"
                                     " VALUES (?, ?, ?, ?, ?)", (name, external_id, notes, stamp, stamp)).lastrowid
        except sqlite3.IntegrityError:
            raise GalleryError(f"another person already has the External ID '{external_id}'") from None
        write_person_groups(conn, person_id, groups, replace=False)
        return person_id

    def _model_ids(self) -> list[int]:
        return [r["id"] for r in rows(self.db, "SELECT id FROM models")]

    @staticmethod
    def _check_embeddings(samples: list[FaceSample], embeddings: np.ndarray, model: ModelRecord) -> None:
        if len(samples) != len(embeddings):
            raise GalleryError(f"{len(samples)} samples but {len(embeddings)} embeddings")
        if len(embeddings) and np.asarray(embeddings).shape[1] != model.dim:
            raise GalleryError(f"embeddings have {np.asarray(embeddings).shape[1]} dimensions, model {model.name} has {model.dim}")

    def _insert_samples(self, person_id: int, samples: list[FaceSample], embeddings: np.ndarray, model_id: int,
                        stamp: str) -> None:
        """Inside the caller's transaction: the samples and their embeddings for `model_id`."""
        table, stored = self.db.db["samples"], []
        for sample, vector in zip(samples, normalise(embeddings)):
            table.insert({"person_id": person_id, "face_jpeg": sample.jpeg(),
                          "landmarks": json.dumps(np.round(sample.landmarks, 2).tolist()),
                          "face_size": float(sample.face_size), "sharpness": float(sample.sharpness),
                          "yaw": float(sample.yaw), "det_score": float(sample.det_score),
                          "source": path_text(sample.source), "captured_at": stamp})  # any file name's encoding
            stored.append({"sample_id": table.last_rowid, "model_id": model_id, "vector": to_blob(vector)})
        self.db.db["embeddings"].insert_all(stored)

    def _rebuild_templates(self, model_id: int, person_id: int | None = None) -> None:
        """Inside the caller's transaction: the templates of `model_id` (for one person or everyone) from
        the sample embeddings stored for it."""
        where = "AND s.person_id = ?" if person_id is not None else ""
        params: tuple = (model_id, person_id) if person_id is not None else (model_id,)
        found = rows(self.db, f"SELECT s.person_id, e.vector FROM embeddings e JOIN samples s ON s.id = e.sample_id"
                     f" WHERE e.model_id = ? {where} ORDER BY s.person_id", params)
        if person_id is not None:
            self.db.conn.execute("DELETE FROM templates WHERE model_id = ? AND person_id = ?", (model_id, person_id))
        else:
            self.db.conn.execute("DELETE FROM templates WHERE model_id = ?", (model_id,))
        by_person: dict[int, list[np.ndarray]] = {}
        for r in found:
            by_person.setdefault(r["person_id"], []).append(from_blob(r["vector"]))
        stamp = now_iso()
        # A person only gets a template for a model once every one of their samples has an
        # embedding for it: a template from some of the samples would be a mixed state.
        count_sql = ("SELECT person_id, COUNT(*) AS n FROM samples"
                     + (" WHERE person_id = ?" if person_id is not None else ""))
        counts = {r["person_id"]: r["n"] for r in rows(self.db, count_sql + " GROUP BY person_id", params[1:])}
        self.db.db["templates"].insert_all(
            {"person_id": pid, "model_id": model_id, "vector": to_blob(normalise(np.mean(vs, axis=0))),
             "n_samples": len(vs), "updated_at": stamp}
            for pid, vs in by_person.items() if len(vs) == counts.get(pid, 0))

    def _stored_faces(self, sample_ids: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        marks = ",".join("?" * len(sample_ids))
        found = rows(self.db, f"SELECT id, face_jpeg, landmarks FROM samples WHERE id IN ({marks})", tuple(sample_ids))
        by_id = {r["id"]: r for r in found}
        out = []
        for sid in sample_ids:
            row = by_id[sid]
            face = cv2.imdecode(np.frombuffer(row["face_jpeg"], np.uint8), cv2.IMREAD_COLOR)
            out.append((face, np.array(json.loads(row["landmarks"]), dtype=np.float64)))
        return out
