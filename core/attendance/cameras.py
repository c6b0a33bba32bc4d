"""The cameras connected to this computer, for the operator to choose from. On Linux the video4linux
devices named in sysfs; elsewhere (Windows has no cheap way to get names) camera numbers tried one by
one, stopping after a few misses. Each candidate is opened once, on a thread of its own with a time
limit, to check that it delivers a frame and learn its size; every capture opened is released."""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.attendance.sources import open_camera

logger = logging.getLogger(__name__)

SYSFS_VIDEO = Path("/sys/class/video4linux")
PROBE_TIMEOUT_S = 5.0  # a DirectShow camera can take 2-3 s to open; one that takes longer is skipped
MAX_INDEX = 10  # camera numbers tried where they cannot be listed
MAX_MISSES = 2  # consecutive numbers that open nothing before the search stops

Opener = Callable[[int], Any]  # a camera number -> an object with isOpened(), read() and release()

_hung: set[int] = set()  # cameras whose probe is still stuck after its time ran out: not opened again
_hung_lock = threading.Lock()


@dataclass(frozen=True)
class CameraInfo:
    """A camera found: its number (what the source field takes), a name, and the size of the frame it
    delivered (None for a camera that was not opened because the app is using it)."""

    index: int
    name: str
    size: tuple[int, int] | None = None

    @property
    def label(self) -> str:
        detail = f"{self.size[0]}×{self.size[1]}" if self.size else "in use"
        return f"{self.index} — {self.name} ({detail})"


def probe_camera(index: int, opener: Opener, timeout_s: float = PROBE_TIMEOUT_S) -> tuple[int, int] | None:
    """Open camera `index`, read one frame and release it; (width, height) of that frame, or None when it
    cannot be opened, delivers nothing, or has not answered after `timeout_s` (its thread then releases
    the capture whenever the opener returns, and the camera is not tried again until it has)."""
    with _hung_lock:
        if index in _hung:
            logger.info("camera %d is still stuck in an earlier probe; skipped", index)
            return None
    size: list[tuple[int, int]] = []
    done = threading.Event()

    def run() -> None:
        cap = None
        try:
            cap = opener(index)
            if cap.isOpened():
                ok, frame = cap.read()
                if ok and frame is not None:
                    size.append((int(frame.shape[1]), int(frame.shape[0])))
        except Exception:  # noqa: BLE001 - a camera that fails in any way is simply not listed
            logger.debug("probing camera %d failed", index, exc_info=True)
        finally:
            if cap is not None:
                try:
                    cap.release()
                except Exception:  # noqa: BLE001
                    logger.debug("releasing camera %d failed", index, exc_info=True)
            with _hung_lock:
                done.set()
                _hung.discard(index)

    threading.Thread(target=run, name=f"camera-probe-{index}", daemon=True).start()
    if not done.wait(timeout_s):
        with _hung_lock:
            hung = not done.is_set()
            if hung:  # the thread takes it off when the opener finally returns
                _hung.add(index)
        if hung:
            logger.warning("camera %d did not answer within %.0f s; it is left out of the list", index, timeout_s)
            return None
    return size[0] if size else None


def v4l2_devices(sysfs: Path = SYSFS_VIDEO) -> list[tuple[int, str]]:
    """(number, name) of the Linux video devices that can be cameras, by number. A camera's extra nodes
    (UVC metadata, a second stream) have a non-zero `index` attribute and are left out."""
    devices = []
    try:
        entries = list(sysfs.iterdir())
    except OSError:  # no video4linux at all (a container, a machine without cameras)
        return []
    for entry in entries:
        match = re.fullmatch(r"video(\d+)", entry.name)
        if not match:
            continue
        number = int(match.group(1))
        if _read(entry / "index") not in ("", "0"):
            continue
        devices.append((number, _read(entry / "name") or f"Camera {number}"))
    return sorted(devices)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def list_cameras(*, opener: Opener | None = None, platform: str = sys.platform, sysfs: Path = SYSFS_VIDEO,
                 busy: Collection[int] = (), timeout_s: float = PROBE_TIMEOUT_S, max_index: int = MAX_INDEX,
                 max_misses: int = MAX_MISSES, cancelled: Callable[[], bool] | None = None) -> list[CameraInfo]:
    """The cameras that deliver frames, by number. `busy`: numbers the app itself has open (listed
    without being opened: a camera is exclusive). `opener` (default `open_camera` as the app opens
    them) and `sysfs` are replaceable for tests; `cancelled` is asked before each probe."""
    open_ = opener if opener is not None else (lambda index: open_camera(index, platform=platform))
    stop = cancelled or (lambda: False)
    found: list[CameraInfo] = []
    if platform.startswith("linux"):
        for index, name in v4l2_devices(sysfs):
            if stop():
                break
            size = None if index in busy else probe_camera(index, open_, timeout_s)
            if size is not None or index in busy:
                found.append(CameraInfo(index, name, size))
        return found
    misses = 0
    for index in range(max_index):
        if stop() or misses >= max_misses:
            break
        size = None if index in busy else probe_camera(index, open_, timeout_s)
        if size is None and index not in busy:
            misses += 1
            continue
        misses = 0
        found.append(CameraInfo(index, f"Camera {index}", size))
    return found
