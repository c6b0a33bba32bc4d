"""The files this process must never open as anything else: each open database with its -wal, -shm,
-journal and .lock files. SQLite locks with POSIX locks, which the process loses when it closes ANY
descriptor of the file, so an image, video, model or export path is checked here (by name and by
stat, never by opening it) before it is read or written."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from core.errors import RollcallError


class ProtectedFileError(RollcallError):
    """A file chosen as an image, video or model is one of the open database's own files."""

    def __init__(self, path: str | Path, database: str | Path, purpose: str, companion: str = "") -> None:
        self.path = Path(path)
        what = f"a working file ({companion}) of Rollcall's database {database}" if companion else "Rollcall's database"
        super().__init__(f"{path} is {what}; choose another file as {purpose}.")


DATABASE_FILE_SUFFIXES = ("", "-wal", "-shm", "-journal", ".lock")
_open_files: dict[str, int] = {}
_open_files_lock = threading.Lock()


def file_key(path: str | Path) -> str:
    return os.path.normcase(str(Path(path).absolute().resolve()))


def register(path: str | Path, delta: int = 1) -> int:
    """Protect `path` and its -wal, -shm, -journal and .lock files (delta -1 undoes one +1); returns
    how many holders `path` has now."""
    with _open_files_lock:
        key = file_key(path)
        count = _open_files.get(key, 0) + delta
        if count <= 0:
            _open_files.pop(key, None)
        else:
            _open_files[key] = count
        return max(count, 0)


def open_count(path: str | Path) -> int:
    """How many Database objects (and instance locks) of this process have `path` open."""
    with _open_files_lock:
        return _open_files.get(file_key(path), 0)


def ensure_not_database_file(path: str | Path, purpose: str) -> None:
    """Raise ProtectedFileError when `path` is (or names) a database file this process has open.

    Never opens `path`: opening and closing it would drop the process's SQLite locks.
    `purpose` finishes "choose another file as ...", e.g. "an image".
    """
    with _open_files_lock:
        roots = list(_open_files)
    if not roots:
        return
    try:
        key = file_key(path)
    except (OSError, RuntimeError, ValueError):  # ValueError: a NUL in the name (no file has one)
        key = os.path.normcase(os.path.abspath(path))
    for root in roots:
        for suffix in DATABASE_FILE_SUFFIXES:
            if key == root + suffix or (os.path.exists(path) and _samefile(path, root + suffix)):
                raise ProtectedFileError(path, root, purpose, suffix)


def _samefile(a: str | Path, b: str) -> bool:  # stat only: never opens either file
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False
