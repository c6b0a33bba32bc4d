"""The gallery: people, their face samples, per-model embeddings and templates, and the models.

Every sample keeps a loosely aligned face image (`FACE_TEMPLATE`, JPEG) and its
landmarks, so any model can re-embed it later. Embeddings and templates are
stored per (sample, model) and (person, model): switching the active model
computes what is missing, then switches all templates in one transaction;
switching back is instant. A template is the L2-normalised mean of the
person's sample embeddings for that model.

All writes go through this module, each inside one transaction.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.vision.align import ARCFACE_TEMPLATE, AlignmentTemplate, align_face, similarity_transform
from core.storage.db import Database
from core.errors import RollcallError
from core.vision.models.base import Embedder

logger = logging.getLogger(__name__)

# Stored face images: the ArcFace layout enlarged 1.6x and centred in 256 px, which leaves
# room for every model's crop (dlib's chip reaches further down the chin).
FACE_SIZE = 256
FACE_TEMPLATE = AlignmentTemplate(
    tuple((x * 1.6 + (FACE_SIZE - 112 * 1.6) / 2, y * 1.6 + (FACE_SIZE - 112 * 1.6) / 2) for x, y in ARCFACE_TEMPLATE.points),
    FACE_SIZE,
)
JPEG_QUALITY = 92
ENROL_JITTERS = 10  # extra moved copies per enrolment crop (plus the crop and its mirror)
ACTIVE_MODEL_KEY = "active_model_id"
PREVIOUS_MODEL_KEY = "previous_model_id"  # the model a roll back returns to


class GalleryError(RollcallError):
    """A gallery operation cannot be done as asked."""


class NotFoundError(GalleryError):
    """No such person, sample or model."""


def now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norm, 1e-12)


def to_blob(v: np.ndarray) -> bytes:
    return np.asarray(v, dtype="<f4").tobytes()


def from_blob(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<f4")


@dataclass(frozen=True)
class ModelRecord:
    id: int
    name: str
    arch: str
    file_hash: str
    source: str
    dim: int
    threshold: float
    threshold_origin: str


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    external_id: str | None
    group_name: str
    notes: str
    created_at: str
    updated_at: str
    n_samples: int


@dataclass(frozen=True)
class SampleInfo:
    id: int
    person_id: int
    face_size: float
    sharpness: float
    yaw: float
    det_score: float
    source: str
    captured_at: str


@dataclass
class FaceSample:
    """A face ready to store: the image in FACE_TEMPLATE layout, its landmarks there, quality and origin."""

    face: np.ndarray  # BGR uint8 (FACE_SIZE, FACE_SIZE, 3)
    landmarks: np.ndarray  # (5, 2) in `face` coordinates
    face_size: float
    sharpness: float
    yaw: float
    det_score: float
    source: str

    def jpeg(self) -> bytes:
        ok, buf = cv2.imencode(".jpg", self.face, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise GalleryError("could not encode a face image")
        return buf.tobytes()


def face_sample_from(image: np.ndarray, landmarks: np.ndarray, *, face_size: float, sharpness: float,
                     yaw: float, det_score: float, source: str) -> FaceSample:
    """Cut the stored face image out of a full image, and carry the landmarks into it."""
    face = align_face(image, landmarks, FACE_TEMPLATE)
    m = similarity_transform(np.asarray(landmarks, np.float64), FACE_TEMPLATE.array())
    moved = np.asarray(landmarks, np.float64) @ m[:, :2].T + m[:, 2]
    return FaceSample(face, moved.astype(np.float32), face_size, sharpness, yaw, det_score, source)


def model_crops(embedder: Embedder, faces: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Crops laid out for `embedder` from stored face images and their landmarks."""
    spec = embedder.spec
    crops = [align_face(face, lm, spec.template, spec.size) for face, lm in faces]
    return np.stack(crops) if crops else np.zeros((0, spec.size, spec.size, 3), np.uint8)


def jittered(crop: np.ndarray, n: int = ENROL_JITTERS, seed: int = 0) -> np.ndarray:
    """The crop, its mirror image and `n` slightly moved copies (rotation within 3 degrees, scale
    0.97-1, shift within 2 %, half of them mirrored), as dlib's face-descriptor jitter does.
    Seeded, so that re-embedding a stored face always sees the same copies."""
    rng = np.random.default_rng(seed)
    size = crop.shape[0]
    out = [crop, crop[:, ::-1]]
    for _ in range(n):
        m = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-3, 3), 1.0 / rng.uniform(0.97, 1.0))
        m[:, 2] += rng.uniform(-0.02, 0.02, 2) * size
        copy = cv2.warpAffine(crop, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        out.append(copy[:, ::-1] if rng.random() < 0.5 else copy)
    return np.ascontiguousarray(np.stack(out))


def enrolment_embeddings(embedder: Embedder, crops: np.ndarray, jitters: int = ENROL_JITTERS) -> np.ndarray:
    """One embedding per enrolment crop: the normalised mean over the crop's jittered copies.
    A sample's embedding is then less sensitive to the exact alignment of a single photo; the
    same function serves enrolment and re-embedding, so both agree."""
    if len(crops) == 0:
        return np.zeros((0, embedder.dim), np.float32)
    views = [jittered(c, jitters) for c in crops]
    flat = embedder.embed(np.concatenate(views))
    per = len(views[0])
    return normalise(flat.reshape(len(crops), per, -1).mean(axis=1))


class Gallery:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ models

    def register_model(self, embedder: Embedder, *, threshold: float | None = None, origin: str = "default") -> ModelRecord:
        """The model's record, created on first use (identified by the hash of its weights file)."""
        digest = embedder.identity
        row = self.db.execute("SELECT * FROM models WHERE file_hash = ?", (digest,)).fetchone()
        if row:
            record = self._model(row)
            moved = (embedder.source and record.source != embedder.source and Path(embedder.source).is_file()
                     and not Path(record.source).is_file())
            if moved:  # the same weights, found again at a new place: remember where they are now
                with self.db.transaction() as conn:
                    conn.execute("UPDATE models SET source = ? WHERE id = ?", (embedder.source, record.id))
                return self.model(record.id)
            return record
        value = threshold if threshold is not None else embedder.model.default_threshold
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO models(name, arch, file_hash, source, dim, threshold, threshold_origin, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (embedder.name, embedder.arch, digest, embedder.source, embedder.dim, float(value), origin, now_iso()),
            )
        return self.model(cur.lastrowid)

    def model(self, model_id: int) -> ModelRecord:
        row = self.db.execute("SELECT * FROM models WHERE id = ?", (model_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no model with id {model_id}")
        return self._model(row)

    def models(self) -> list[ModelRecord]:
        return [self._model(r) for r in self.db.execute("SELECT * FROM models ORDER BY id")]

    def active_model(self) -> ModelRecord | None:
        value = self.db.get_setting(ACTIVE_MODEL_KEY)
        return self.model(int(value)) if value else None

    def set_threshold(self, model_id: int, threshold: float, origin: str = "manual") -> ModelRecord:
        if not -1.0 <= threshold <= 1.0:
            raise GalleryError(f"a cosine threshold must be between -1 and 1, got {threshold}")
        with self.db.transaction() as conn:
            conn.execute("UPDATE models SET threshold = ?, threshold_origin = ? WHERE id = ?", (threshold, origin, model_id))
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
            with self.db.transaction() as conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO embeddings(sample_id, model_id, vector) VALUES (?, ?, ?)",
                    [(sid, record.id, to_blob(v)) for sid, v in zip(ids, vectors)],
                )
            done += len(ids)
            if progress:
                progress(done, len(todo))
        return record

    def missing_embeddings(self, model_id: int) -> list[int]:
        """Ids of the samples that have no embedding for this model."""
        return [r[0] for r in self.db.execute(
            "SELECT s.id FROM samples s LEFT JOIN embeddings e ON e.sample_id = s.id AND e.model_id = ?"
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
            self._rebuild_templates(conn, record.id)
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
        group_name: str = "",
        notes: str = "",
    ) -> Person:
        """Create a person with their samples, embeddings (for `model`) and template, in one transaction."""
        name = name.strip()
        if not name:
            raise GalleryError("a person needs a name")
        if not samples:
            raise GalleryError(f"no usable face samples for {name}; nothing was saved")
        self._check_embeddings(samples, embeddings, model)
        stamp = now_iso()
        with self.db.transaction() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO people(name, external_id, group_name, notes, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (name, external_id or None, group_name, notes, stamp, stamp),
                )
            except sqlite3.IntegrityError as exc:
                if "UNIQUE" in str(exc):
                    raise GalleryError(f"another person already has the external id '{external_id}'") from None
                raise
            person_id = cur.lastrowid
            self._insert_samples(conn, person_id, samples, embeddings, model.id, stamp)
            self._rebuild_templates(conn, model.id, person_id)
        return self.person(person_id)

    def add_samples(self, person_id: int, samples: list[FaceSample], embeddings: np.ndarray, model: ModelRecord) -> Person:
        self.person(person_id)
        self._check_embeddings(samples, embeddings, model)
        with self.db.transaction() as conn:
            self._insert_samples(conn, person_id, samples, embeddings, model.id, now_iso())
            conn.execute("UPDATE people SET updated_at = ? WHERE id = ?", (now_iso(), person_id))
            for mid in self._model_ids(conn):
                self._rebuild_templates(conn, mid, person_id)
        return self.person(person_id)

    def remove_sample(self, sample_id: int) -> None:
        row = self.db.execute("SELECT person_id FROM samples WHERE id = ?", (sample_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no sample with id {sample_id}")
        person_id = row[0]
        left = self.db.execute("SELECT COUNT(*) FROM samples WHERE person_id = ?", (person_id,)).fetchone()[0]
        if left <= 1:
            raise GalleryError("this is the person's last sample; delete the person instead")
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM samples WHERE id = ?", (sample_id,))
            conn.execute("UPDATE people SET updated_at = ? WHERE id = ?", (now_iso(), person_id))
            for mid in self._model_ids(conn):
                self._rebuild_templates(conn, mid, person_id)

    def update_person(self, person_id: int, **fields: str | None) -> Person:
        allowed = {"name", "external_id", "group_name", "notes"}
        unknown = set(fields) - allowed
        if unknown:
            raise GalleryError(f"unknown person fields: {', '.join(sorted(unknown))}")
        if "name" in fields and not (fields["name"] or "").strip():
            raise GalleryError("a person needs a name")
        self.person(person_id)
        if fields:
            sets = ", ".join(f"{k} = ?" for k in fields)
            values = [v.strip() if isinstance(v, str) and k == "name" else (v or None if k == "external_id" else v)
                      for k, v in fields.items()]
            with self.db.transaction() as conn:
                conn.execute(f"UPDATE people SET {sets}, updated_at = ? WHERE id = ?", (*values, now_iso(), person_id))
                if "name" in fields:  # attendance shows the person's current name while they are enrolled
                    conn.execute("UPDATE marks SET person_name = ? WHERE person_id = ?", (values[list(fields).index("name")], person_id))
        return self.person(person_id)

    def delete_person(self, person_id: int, *, erase_history: bool = False, operator: str = "") -> None:
        """Erase the person's samples, embeddings and templates. Their attendance marks keep the
        name (the link to the person is cleared) unless `erase_history` also deletes them."""
        person = self.person(person_id)
        with self.db.transaction() as conn:
            if erase_history:
                conn.execute("DELETE FROM marks WHERE person_id = ?", (person_id,))
            conn.execute("DELETE FROM people WHERE id = ?", (person_id,))
            conn.execute(
                "INSERT INTO audit(at, operator, action, person_id, person_name, details) VALUES (?, ?, ?, ?, ?, ?)",
                (now_iso(), operator, "delete_person", person_id, person.name,
                 json.dumps({"erase_history": erase_history})),
            )

    def person(self, person_id: int) -> Person:
        row = self.db.execute(_PERSON_SQL + " WHERE p.id = ? GROUP BY p.id", (person_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no person with id {person_id}")
        return Person(*row)

    def people(self, search: str = "") -> list[Person]:
        if search:
            like = f"%{search.strip()}%"
            rows = self.db.execute(
                _PERSON_SQL + " WHERE p.name LIKE ? OR p.external_id LIKE ? OR p.group_name LIKE ?"
                " GROUP BY p.id ORDER BY p.name COLLATE NOCASE", (like, like, like))
        else:
            rows = self.db.execute(_PERSON_SQL + " GROUP BY p.id ORDER BY p.name COLLATE NOCASE")
        return [Person(*r) for r in rows]

    def find_people(self, name: str) -> list[Person]:
        rows = self.db.execute(_PERSON_SQL + " WHERE p.name = ? COLLATE NOCASE OR p.external_id = ? GROUP BY p.id",
                               (name.strip(), name.strip()))
        return [Person(*r) for r in rows]

    def samples(self, person_id: int) -> list[SampleInfo]:
        rows = self.db.execute(
            "SELECT id, person_id, face_size, sharpness, yaw, det_score, source, captured_at"
            " FROM samples WHERE person_id = ? ORDER BY id", (person_id,))
        return [SampleInfo(*r) for r in rows]

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
            rows = self.db.execute("SELECT id, face_jpeg, landmarks FROM samples WHERE person_id = ? ORDER BY id",
                                   (person.id,))
            digests = [(r[0], hashlib.sha256(r[1]).hexdigest(), np.array(json.loads(r[2]), dtype=np.float64))
                       for r in rows]
            if digests:
                out.append((person, digests))
        return out

    def sample_faces(self, sample_ids: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """The stored face images of these samples and their landmarks, in the order given."""
        missing = set(sample_ids) - {r[0] for r in self.db.execute(
            f"SELECT id FROM samples WHERE id IN ({','.join('?' * len(sample_ids))})", tuple(sample_ids))}
        if missing:
            raise NotFoundError(f"no sample(s) with id {', '.join(map(str, sorted(missing)[:5]))} in {self.db.label}")
        return self._stored_faces(list(sample_ids))

    def sample_face(self, sample_id: int) -> np.ndarray:
        row = self.db.execute("SELECT face_jpeg FROM samples WHERE id = ?", (sample_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no sample with id {sample_id}")
        return cv2.imdecode(np.frombuffer(row[0], np.uint8), cv2.IMREAD_COLOR)

    def count_people(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM people").fetchone()[0]

    # ------------------------------------------------------------------ templates

    def templates(self, model_id: int) -> tuple[np.ndarray, list[str], np.ndarray]:
        """(person ids, names, (P, D) matrix of unit templates) for one model, in one query."""
        dim = self.model(model_id).dim
        rows = self.db.execute(
            "SELECT t.person_id, p.name, t.vector FROM templates t JOIN people p ON p.id = t.person_id"
            " WHERE t.model_id = ? ORDER BY t.person_id", (model_id,)).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        # one copy from the blobs straight into the matrix (little-endian float32 = native here)
        matrix = np.frombuffer(b"".join([r[2] for r in rows]), dtype="<f4").reshape(len(rows), dim)
        return ids, [r[1] for r in rows], matrix.astype(np.float32, copy=False)

    def sample_embeddings(self, model_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(person id per sample, (S, D) sample embeddings) for one model."""
        rows = self.db.execute(
            "SELECT s.person_id, e.vector FROM embeddings e JOIN samples s ON s.id = e.sample_id"
            " WHERE e.model_id = ? ORDER BY s.person_id, s.id", (model_id,)).fetchall()
        dim = self.model(model_id).dim
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
        labels = np.array([r[0] for r in rows], dtype=np.int64)
        return labels, np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), dim).copy()

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _model(row: tuple) -> ModelRecord:
        return ModelRecord(*row[:8])

    def _model_ids(self, conn) -> list[int]:
        return [r[0] for r in conn.execute("SELECT id FROM models")]

    @staticmethod
    def _check_embeddings(samples: list[FaceSample], embeddings: np.ndarray, model: ModelRecord) -> None:
        if len(samples) != len(embeddings):
            raise GalleryError(f"{len(samples)} samples but {len(embeddings)} embeddings")
        if len(embeddings) and np.asarray(embeddings).shape[1] != model.dim:
            raise GalleryError(f"embeddings have {np.asarray(embeddings).shape[1]} dimensions, model {model.name} has {model.dim}")

    @staticmethod
    def _insert_samples(conn, person_id: int, samples: list[FaceSample], embeddings: np.ndarray, model_id: int, stamp: str) -> None:
        for sample, vector in zip(samples, normalise(embeddings)):
            cur = conn.execute(
                "INSERT INTO samples(person_id, face_jpeg, landmarks, face_size, sharpness, yaw, det_score, source,"
                " captured_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (person_id, sample.jpeg(), json.dumps(np.round(sample.landmarks, 2).tolist()), float(sample.face_size),
                 float(sample.sharpness), float(sample.yaw), float(sample.det_score), sample.source, stamp),
            )
            conn.execute("INSERT INTO embeddings(sample_id, model_id, vector) VALUES (?, ?, ?)",
                         (cur.lastrowid, model_id, to_blob(vector)))

    @staticmethod
    def _rebuild_templates(conn, model_id: int, person_id: int | None = None) -> None:
        """Templates of `model_id` (for one person or everyone) from the sample embeddings stored for it."""
        where = "AND s.person_id = ?" if person_id is not None else ""
        params: tuple = (model_id, person_id) if person_id is not None else (model_id,)
        rows = conn.execute(
            f"SELECT s.person_id, e.vector FROM embeddings e JOIN samples s ON s.id = e.sample_id"
            f" WHERE e.model_id = ? {where} ORDER BY s.person_id", params).fetchall()
        if person_id is not None:
            conn.execute("DELETE FROM templates WHERE model_id = ? AND person_id = ?", (model_id, person_id))
        else:
            conn.execute("DELETE FROM templates WHERE model_id = ?", (model_id,))
        by_person: dict[int, list[np.ndarray]] = {}
        for pid, blob in rows:
            by_person.setdefault(pid, []).append(from_blob(blob))
        stamp = now_iso()
        # A person only gets a template for a model once every one of their samples has an
        # embedding for it: a template from some of the samples would be a mixed state.
        count_sql = "SELECT person_id, COUNT(*) FROM samples" + (" WHERE person_id = ?" if person_id is not None else "")
        counts = dict(conn.execute(count_sql + " GROUP BY person_id", params[1:]).fetchall())
        conn.executemany(
            "INSERT INTO templates(person_id, model_id, vector, n_samples, updated_at) VALUES (?, ?, ?, ?, ?)",
            [(pid, model_id, to_blob(normalise(np.mean(vs, axis=0))), len(vs), stamp)
             for pid, vs in by_person.items() if len(vs) == counts.get(pid, 0)],
        )

    def _stored_faces(self, sample_ids: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        marks = ",".join("?" * len(sample_ids))
        rows = {r[0]: r for r in self.db.execute(
            f"SELECT id, face_jpeg, landmarks FROM samples WHERE id IN ({marks})", tuple(sample_ids))}
        out = []
        for sid in sample_ids:
            _, jpeg, lm = rows[sid]
            face = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            out.append((face, np.array(json.loads(lm), dtype=np.float64)))
        return out


class CancelledError(GalleryError):
    """The operator cancelled a long operation; nothing was switched."""


_PERSON_SQL = (
    "SELECT p.id, p.name, p.external_id, p.group_name, p.notes, p.created_at, p.updated_at, COUNT(s.id)"
    " FROM people p LEFT JOIN samples s ON s.person_id = p.id"
)
