"""One app window per database: the lock file, its holder's details, and a crashed holder."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from core.protected_files import ProtectedFileError, ensure_not_database_file
from core.storage.instance_lock import AlreadyOpenError, InstanceLock, holder, lock_path

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}

TRY_ACQUIRE = """
import sys
from core.storage.instance_lock import AlreadyOpenError, InstanceLock
try:
    InstanceLock(sys.argv[1]).acquire()
except AlreadyOpenError as exc:
    print(exc)
    sys.exit(3)
print("acquired")
"""

HOLD = """
import sys, time
from core.storage.instance_lock import InstanceLock
InstanceLock(sys.argv[1]).acquire()
print("ready", flush=True)
time.sleep(120)
"""


def try_acquire_elsewhere(db: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", TRY_ACQUIRE, str(db)], capture_output=True, text=True,
                          env=ENV, timeout=60)


def test_a_second_process_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    db = tmp_path / "rollcall.db"
    with InstanceLock(db) as lock:
        assert lock.held and lock_path(db).exists()
        info = holder(db)
        assert info is not None and info.pid == os.getpid() and info.host == socket.gethostname()
        # closing another descriptor of the lock file must not drop a flock lock
        open(lock_path(db), "rb").close()
        other = try_acquire_elsewhere(db)
        assert other.returncode == 3, other.stderr
        assert f"Rollcall is already open on {db} (process {os.getpid()} on {socket.gethostname()} since" in other.stdout
        assert "Switch to that window or close it first" in other.stdout
    assert holder(db) is None
    assert try_acquire_elsewhere(db).returncode == 0  # released


def test_the_same_process_cannot_take_it_twice(tmp_path: Path) -> None:
    db = tmp_path / "rollcall.db"
    first = InstanceLock(db).acquire()
    try:
        with pytest.raises(AlreadyOpenError, match=f"process {os.getpid()}"):
            InstanceLock(db).acquire()
        with pytest.raises(ProtectedFileError):
            ensure_not_database_file(lock_path(db), "an image")
    finally:
        first.release()
    ensure_not_database_file(lock_path(db), "an image")  # no longer protected
    InstanceLock(db).acquire().release()


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_a_killed_holder_never_blocks(tmp_path: Path) -> None:
    db = tmp_path / "rollcall.db"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert proc.stdout.readline().strip() == "ready"
        info = holder(db)
        assert info is not None and info.pid == proc.pid
        with pytest.raises(AlreadyOpenError, match=f"process {proc.pid} on "):
            InstanceLock(db).acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert holder(db) is None  # its details are still in the file, but nobody holds the lock
    with InstanceLock(db) as lock:
        assert lock.held
        assert holder(db).pid == os.getpid()
