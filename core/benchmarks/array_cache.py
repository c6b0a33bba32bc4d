"""Benchmark caches on disk: named numpy arrays in one `.npz` file per settings key.

A file's name is a digest of its key and the file holds the key itself, so a changed setting never reads
stale results; files are written atomically and read with `allow_pickle=False` (nothing in them runs)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


def key_json(key: dict) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def cache_path(folder: str | Path, prefix: str, key: dict) -> Path:
    return Path(folder) / f"{prefix}{hashlib.sha256(key_json(key).encode()).hexdigest()[:24]}.npz"


def read_arrays(path: Path, key: dict, what: str) -> dict[str, np.ndarray] | None:
    """Every array stored in `path` when it was written for `key`; None for a miss (no file, another
    key, an unreadable file: `what` names the cache in the log)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        logger.warning("ignoring unreadable %s %s (%s); it will be rewritten", what, path, exc)
        return None
    if "key" not in arrays or str(arrays["key"]) != key_json(key):
        logger.info("%s %s was made for other settings; recomputing", what, path)
        return None
    return arrays


def write_arrays(path: Path, key: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Store `arrays` with `key` in `path` atomically (a reader never sees a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    with tmp.open("wb") as fh:
        np.savez(fh, key=np.array(key_json(key)), **arrays)
    tmp.replace(path)
    return path
