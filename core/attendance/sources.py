"""Frame sources: a camera (by index), a video file or a stream URL, read with OpenCV."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from core.errors import RollcallError, file_kind, path_text
from core.protected_files import ensure_not_database_file


class SourceError(RollcallError):
    """A camera, file or stream cannot be opened or stopped delivering frames."""


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
        cap = cv2.VideoCapture(int(self.spec)) if self.is_camera else cv2.VideoCapture(str(self.spec))
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
