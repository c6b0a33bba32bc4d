"""Data preparation's bookkeeping: progress after each image (which is also where a stop is noticed) and
a cache of the landmarks found, so a resumed run does not look for the same faces again.

The cache is RUN_DIR/faces_cache.json. An entry is keyed by the image's absolute path, size and
modification time, and the whole file by the detector that found the landmarks: a changed image, or
another detector, is looked at again. It is saved when the preparation ends or is stopped, and every
SAVE_EVERY images on the way (a crash loses little).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
SAVE_EVERY = 100
Progress = Callable[[int, int, int], None]  # (done, total, cached); may raise to stop


class Preparation:
    """Counts the images prepared, reports them to `progress` and keeps the landmark cache."""

    def __init__(self, progress: Progress | None = None, cache_path: Path | None = None,
                 detector: str = "mtcnn") -> None:
        self.progress = progress
        self.cache_path = cache_path
        self.detector = detector
        self.total = 0
        self.done = 0
        self.cached = 0
        self._entries: dict[str, dict] = {}
        self._unsaved = 0
        if cache_path is not None and cache_path.is_file():
            self._entries = self._read(cache_path)

    def _read(self, path: Path) -> dict[str, dict]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            logger.warning("the face cache %s cannot be read (%s): the faces are looked for again", path, exc)
            return {}
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or data.get("detector") != self.detector:
            logger.info("the face cache %s is for other settings: the faces are looked for again", path)
            return {}
        entries = data.get("faces")
        return entries if isinstance(entries, dict) else {}

    @staticmethod
    def _stamp(path: Path) -> tuple[str, int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return str(Path(path).resolve()), int(st.st_size), int(st.st_mtime_ns)

    def landmarks(self, path: Path, image: np.ndarray, find: Callable[[np.ndarray], np.ndarray | None]
                  ) -> np.ndarray | None:
        """The landmarks of the largest face in `image` (read from `path`): cached, or found by `find`."""
        stamp = self._stamp(path)
        if stamp is not None:
            entry = self._entries.get(stamp[0])
            if isinstance(entry, dict) and entry.get("size") == stamp[1] and entry.get("mtime_ns") == stamp[2]:
                self.cached += 1
                found = entry.get("landmarks")
                return None if found is None else np.asarray(found, dtype=np.float64).reshape(5, 2)
        found = find(image)
        if stamp is not None:
            self._entries[stamp[0]] = {"size": stamp[1], "mtime_ns": stamp[2],
                                       "landmarks": None if found is None else np.asarray(found).tolist()}
            self._unsaved += 1
        return found

    def tick(self) -> None:
        """One image done: report it (the callback may raise to stop; the cache is saved first)."""
        self.done += 1
        self.total = max(self.total, self.done)  # a val limit counts faces, not images: never past 100 %
        if self._unsaved >= SAVE_EVERY:
            self.save()
        if self.progress is not None:
            try:
                self.progress(self.done, self.total, self.cached)
            except BaseException:
                self.save()
                raise

    def save(self) -> None:
        """Write the cache (atomically), if there is one to write."""
        if self.cache_path is None or (not self._unsaved and self.cache_path.exists()):
            return
        tmp = self.cache_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": CACHE_VERSION, "detector": self.detector, "faces": self._entries}),
                       encoding="utf-8")
        os.replace(tmp, self.cache_path)
        self._unsaved = 0
