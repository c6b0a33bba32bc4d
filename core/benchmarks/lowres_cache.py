"""A cache of the low-resolution benchmark's full-resolution pass (embedding and landmarks per image).

That pass takes minutes and depends only on the images, the pairs, the detector, the embedder and the
smallest face size; each combination gets its own `hr-<digest>.npz`, so a changed setting never reads
stale results. Files are plain arrays read with `allow_pickle=False`: nothing in them can run code.

Key and file rules: docs/BENCHMARKS.md#the-full-resolution-cache
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.benchmarks.array_cache import cache_path, read_arrays, write_arrays
from core.digest import file_sha256

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
CACHE_PREFIX = "hr-"


@dataclass
class HRPass:
    """The full-resolution pass: per image name, the largest face's embedding and landmarks (None: no face)."""

    embeddings: dict[str, np.ndarray | None]
    landmarks: dict[str, np.ndarray | None]

    @property
    def no_face(self) -> int:
        return sum(e is None for e in self.embeddings.values())


def detector_identity(spec: str) -> str:
    """The detector spec, with a YuNet model file replaced by its digest (so moving it changes nothing)."""
    kind, _, arg = spec.partition(":")
    if kind == "yunet" and arg and Path(arg).is_file():
        return f"yunet:sha256:{file_sha256(arg)}"
    return spec


def images_digest(images_dir: Path, names: list[str]) -> str:
    """sha256 over each image's name, size and modification time: a replaced image changes it."""
    h = hashlib.sha256()
    for name in names:
        st = (images_dir / name).stat()
        h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def pairs_digest(pairs: list[tuple[str, str]], labels: np.ndarray) -> str:
    text = "\n".join(f"{a} {b} {int(same)}" for (a, b), same in zip(pairs, labels))
    return hashlib.sha256(text.encode()).hexdigest()


def hr_cache_key(data: Path, images_dir: Path, names: list[str], pairs: list[tuple[str, str]],
                 labels: np.ndarray, detector: str, embedder_identity: str, min_face: int) -> dict:
    """Everything the HR pass depends on, as a JSON-able mapping."""
    return {
        "version": CACHE_VERSION,
        "data": str(Path(data).resolve()),
        "images": images_digest(images_dir, names),
        "pairs": pairs_digest(pairs, labels),
        "detector": detector_identity(detector),
        "embedder": embedder_identity,
        "min_face": int(min_face),
    }


class HRPassCache:
    """HR passes stored as .npz files in one folder, one per key."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path_for(self, key: dict) -> Path:
        return cache_path(self.folder, CACHE_PREFIX, key)

    def load(self, key: dict, names: list[str]) -> HRPass | None:
        """The stored HR pass for `key` covering exactly `names`, or None (a miss)."""
        arrays = read_arrays(self.path_for(key), key, "HR cache")
        if arrays is None or [str(n) for n in arrays["names"]] != list(names):
            return None
        return _unpack(list(names), arrays["has_face"], arrays["embeddings"], arrays["landmarks"])

    def save(self, key: dict, names: list[str], hr: HRPass, dim: int) -> Path:
        has_face, embeddings, landmarks = _pack(names, hr, dim)
        path = write_arrays(self.path_for(key), key, {"names": np.array(names, dtype=str), "has_face": has_face,
                                                      "embeddings": embeddings, "landmarks": landmarks})
        logger.info("HR pass cached in %s", path)
        return path


def _pack(names: list[str], hr: HRPass, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    has_face = np.array([hr.embeddings[n] is not None for n in names], dtype=bool)
    embeddings = np.zeros((len(names), dim), np.float32)
    landmarks = np.zeros((len(names), 5, 2), np.float64)
    for i, name in enumerate(names):
        if has_face[i]:
            embeddings[i] = hr.embeddings[name]
            landmarks[i] = hr.landmarks[name]
    return has_face, embeddings, landmarks


def _unpack(names: list[str], has_face: np.ndarray, embeddings: np.ndarray, landmarks: np.ndarray) -> HRPass:
    return HRPass(
        embeddings={n: embeddings[i].copy() if has_face[i] else None for i, n in enumerate(names)},
        landmarks={n: landmarks[i].copy() if has_face[i] else None for i, n in enumerate(names)},
    )
