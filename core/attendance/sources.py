"""Frame sources: a camera (by index), a video file or a stream URL, read with OpenCV."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

from core.errors import RollcallError, file_kind, path_text
from core.protected_files import ensure_not_database_file


class SourceError(RollcallError):
    """A camera, file or stream cannot be opened or stopped delivering frames."""


# What a camera is asked for: USB webcams send 640×480 at 30 fps as MJPG on any USB port (uncompressed
# frames at higher sizes often drop them to 5-10 fps), and it is what the live loop keeps up with on two cores.
CAMERA_SIZE = (640, 480)
CAMERA_FOURCC = "MJPG"


def open_camera(index: int, size: tuple[int, int] = CAMERA_SIZE, platform: str = sys.platform) -> cv2.VideoCapture:
    """A camera by number, asked explicitly for MJPG frames of `size`. On Windows through DirectShow
    (opencv-python-headless has no Media Foundation backend), falling back to OpenCV's choice."""
    cap = cv2.VideoCapture(index, cv2.CAP_DSHOW) if platform == "win32" else cv2.VideoCapture(index)
    if platform == "win32" and not cap.isOpened():
        cap.release()
        cap = cv2.VideoCapture(index)
    if cap.isOpened():  # a camera that cannot do these keeps its own (each set() then just returns False)
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*CAMERA_FOURCC))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
    return cap


class FrameSource:
    """A camera (index), a video file or a stream URL, read with OpenCV."""

    def __init__(self, spec: str | int) -> None:
        self.spec = spec
        text = str(spec).strip()
        self.is_camera = text.isdigit()
        self.is_file = not self.is_camera and "://" not in text
        # path_text: a file name that is not UTF-8 is stored with every mark and unknown sighting as its source
        self.label = f"camera {text}" if self.is_camera else path_text(text)
        self._cap: cv2.VideoCapture | None = None
        self._t0 = 0.0

    def open(self) -> FrameSource:
        if self.is_file:
            ensure_not_database_file(str(self.spec), "a video")  # opening it would drop SQLite's locks
        if self.is_file and not Path(str(self.spec)).is_file():
            path = Path(str(self.spec))
            if path.exists():  # a folder, FIFO or device: opening it could block or never end
                raise SourceError(f"{path_text(path)} is not a video file ({file_kind(path.stat().st_mode)}).")
            raise SourceError(f"The video file {self.spec} does not exist.")
        cap = open_camera(int(self.spec)) if self.is_camera else cv2.VideoCapture(str(self.spec))
        if not cap.isOpened():
            cap.release()
            what = "camera" if self.is_camera else "video file" if self.is_file else "stream"
            hint = " Is it connected and not used by another program?" if self.is_camera else ""
            raise SourceError(f"Cannot open the {what} {self.label}.{hint}")
        self._cap = cap
        self._t0 = time.monotonic()
        return self

    @property
    def fps(self) -> float:
        return float(self._cap.get(cv2.CAP_PROP_FPS)) if self._cap is not None else 0.0

    @property
    def frame_count(self) -> int:
        return int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)) if self._cap is not None and self.is_file else 0

    def read(self) -> tuple[np.ndarray | None, float]:
        """(frame, time in seconds): the video's own clock for files, wall time for live sources.
        A None frame means the file ended or the live source stopped."""
        if self._cap is None:
            raise SourceError(f"{self.label} is not open")
        ok, frame = self._cap.read()
        if not ok or frame is None:
            return None, 0.0
        if self.is_file:
            return frame, float(self._cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
        return frame, time.monotonic() - self._t0

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> FrameSource:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()
