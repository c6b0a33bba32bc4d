"""One Rollcall window per database: a lock file `<db>.lock` held while the app has it open.

POSIX uses flock(): its lock belongs to the open file description, so other
descriptors of the file closing never drop it (unlike SQLite's fcntl locks),
and it dies with the process, so a crashed holder never blocks anyone.
Windows uses msvcrt.locking on a byte past the holder's details, which stay
readable. The holder writes its pid, host and start time for the refusal message.
The CLI does not take this lock: its writers share the database through WAL.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.storage.db import DatabaseError, register_database_file, unregister_database_file

logger = logging.getLogger(__name__)

_LOCK_OFFSET = 1 << 16  # Windows: the locked byte, past the holder's details

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class AlreadyOpenError(DatabaseError):
    """Another Rollcall window (process) has this database open."""

    def __init__(self, db_path: Path, holder: Holder | None) -> None:
        self.db_path = db_path
        self.holder = holder
        who = f" ({holder.describe()})" if holder is not None else " (in another process)"
        super().__init__(
            f"Rollcall is already open on {db_path}{who}. Switch to that window or close it first."
        )


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    started: datetime

    def describe(self) -> str:
        when = self.started.strftime("%H:%M") if self.started.date() == datetime.now().date() \
            else self.started.strftime("%Y-%m-%d %H:%M")
        return f"process {self.pid} on {self.host} since {when}"


def lock_path(db_path: str | Path) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".lock")


_held: dict[str, InstanceLock] = {}  # this process's locks, by resolved database path
_held_guard = threading.Lock()


def _key(db_path: Path) -> str:
    return os.path.normcase(str(db_path.absolute().resolve()))


def held_here(db_path: str | Path) -> bool:
    """Whether this process holds the instance lock of `db_path`."""
    with _held_guard:
        return _key(Path(db_path)) in _held


class InstanceLock:
    """`with InstanceLock(db):` or acquire()/release(); acquire raises AlreadyOpenError when held elsewhere."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path)
        self.path = lock_path(self.db_path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> InstanceLock:
        if self._fd is not None:
            return self
        key = _key(self.db_path)
        with _held_guard:
            if key in _held:
                raise AlreadyOpenError(self.db_path, _read_holder(_held[key].path))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
        except OSError as exc:
            raise DatabaseError(
                f"Cannot create the lock file {self.path} ({exc.strerror or exc}). "
                f"Check that you can write to the folder {self.path.parent}."
            ) from None
        if not _try_lock(fd):
            os.close(fd)  # our own descriptor: the holder's flock is untouched
            raise AlreadyOpenError(self.db_path, _read_holder(self.path))
        details = {"pid": os.getpid(), "host": socket.gethostname(), "started": datetime.now().isoformat()}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(details).encode())
        self._fd = fd
        with _held_guard:
            _held[key] = self
        register_database_file(self.db_path)
        logger.info("holding %s", self.path)
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with _held_guard:
            _held.pop(_key(self.db_path), None)
        try:
            os.ftruncate(fd, 0)  # no stale details once released
            _unlock(fd)
        except OSError as exc:
            logger.warning("releasing %s: %s", self.path, exc)
        finally:
            os.close(fd)
            unregister_database_file(self.db_path)

    def __enter__(self) -> InstanceLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder(db_path: str | Path) -> Holder | None:
    """Who holds the instance lock of `db_path` (this process included), or None when nobody does."""
    db_path = Path(db_path)
    path = lock_path(db_path)
    if held_here(db_path):
        return _read_holder(path)
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    try:
        if _try_lock(fd):  # nobody holds it: a stale file left by a crash
            _unlock(fd)
            return None
    finally:
        os.close(fd)
    return _read_holder(path)


def _read_holder(path: Path) -> Holder | None:
    try:
        with open(path, "rb") as fh:
            info = json.loads(fh.read(4096).decode() or "null")
        return Holder(int(info["pid"]), str(info["host"]), datetime.fromisoformat(info["started"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None
