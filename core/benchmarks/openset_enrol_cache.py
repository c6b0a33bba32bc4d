"""A cache of enrolment verdicts for the open-set benchmark: each photo's check by `Enroller` once.

Enrolling a photo (detect, align, embed the crop and its jittered copies) is
the slow part of a run once the probe passes are cached, and the same photos
are enrolled again by every variant and seed. The verdict of a photo only
depends on the photo, the detector, the embedder and the jitters, so it is kept
in one `enrol-<digest>.npz` per such key: per photo whether it passed, the
reason, the embedding, the stored face (JPEG) with its landmarks and quality.
A cached verdict is enrolled by `Enroller.enrol` like a fresh one. Photos are
added as runs need them; the file is rewritten atomically, read with
`allow_pickle=False`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from core.benchmarks.array_cache import cache_path, read_arrays, write_arrays
from core.benchmarks.identification import _largest_face_verdict
from core.benchmarks.lowres_cache import detector_identity, images_digest
from core.gallery.enrol import Enroller, SampleVerdict
from core.gallery.faces import FaceSample

logger = logging.getLogger(__name__)

CACHE_VERSION = 1


def enrol_cache_key(root: Path, names: list[str], detector: str, embedder_identity: str, min_face: int,
                    jitters: int) -> dict:
    return {"version": CACHE_VERSION, "data": str(Path(root).resolve()), "images": images_digest(Path(root), names),
            "detector": detector_identity(detector), "embedder": embedder_identity, "min_face": int(min_face),
            "jitters": int(jitters), "policy": "permissive"}


class VerdictCache:
    """Enrolment verdicts by photo name, loaded from and saved to one file per key."""

    def __init__(self, folder: str | Path, key: dict) -> None:
        self.key = key
        self.path = cache_path(folder, "enrol-", key)
        self.entries: dict[str, dict] = {}
        self.hits = self.misses = 0
        self._load()

    def verdict(self, enroller: Enroller, root: Path, name: str) -> SampleVerdict:
        source = str(Path(root) / name)
        entry = self.entries.get(name)
        if entry is not None:
            self.hits += 1
            return _verdict_from(entry, source)
        self.misses += 1
        verdict = _largest_face_verdict(enroller, Path(root) / name)
        self.entries[name] = _entry_from(verdict)
        return verdict

    def save(self) -> None:
        if not self.misses:
            return
        names = sorted(self.entries)
        entries = [self.entries[n] for n in names]
        dim = next((len(e["embedding"]) for e in entries if e["ok"]), 0)
        jpegs = [e["jpeg"] if e["ok"] else b"" for e in entries]
        offsets = np.cumsum([0] + [len(j) for j in jpegs]).astype(np.int64)
        arrays = {
            "names": np.array(names, dtype=str),
            "ok": np.array([e["ok"] for e in entries], dtype=bool),
            "reasons": np.array([e["reason"] for e in entries], dtype=str),
            "embeddings": np.stack([e["embedding"] if e["ok"] else np.zeros(dim, np.float32) for e in entries]),
            "landmarks": np.stack([e["landmarks"] if e["ok"] else np.zeros((5, 2), np.float32) for e in entries]),
            "quality": np.array([e["quality"] if e["ok"] else (0.0,) * 4 for e in entries], dtype=np.float64),
            "offsets": offsets, "jpeg": np.frombuffer(b"".join(jpegs), dtype=np.uint8),
        }
        write_arrays(self.path, self.key, arrays)
        logger.info("enrolment verdicts cached in %s (%d photos)", self.path, len(names))

    def _load(self) -> None:
        a = read_arrays(self.path, self.key, "enrolment cache")
        if a is None:
            return
        for i, name in enumerate(str(n) for n in a["names"]):
            ok = bool(a["ok"][i])
            self.entries[name] = {
                "ok": ok, "reason": str(a["reasons"][i]), "embedding": a["embeddings"][i].copy(),
                "landmarks": a["landmarks"][i].copy(), "quality": tuple(float(q) for q in a["quality"][i]),
                "jpeg": a["jpeg"][a["offsets"][i]:a["offsets"][i + 1]].tobytes() if ok else b"",
            }


def _entry_from(v: SampleVerdict) -> dict:
    if not (v.ok and v.sample is not None and v.embedding is not None):
        return {"ok": False, "reason": v.reason}
    s = v.sample
    return {"ok": True, "reason": "", "embedding": np.asarray(v.embedding, np.float32),
            "landmarks": np.asarray(s.landmarks, np.float32), "jpeg": s.jpeg(),
            "quality": (float(s.face_size), float(s.sharpness), float(s.yaw), float(s.det_score))}


def _verdict_from(entry: dict, source: str) -> SampleVerdict:
    if not entry["ok"]:
        return SampleVerdict(source, False, entry["reason"])
    face = cv2.imdecode(np.frombuffer(entry["jpeg"], np.uint8), cv2.IMREAD_COLOR)
    size, sharpness, yaw, score = entry["quality"]
    sample = FaceSample(face, entry["landmarks"], size, sharpness, yaw, score, source)
    return SampleVerdict(source, True, "", sample, entry["embedding"])
