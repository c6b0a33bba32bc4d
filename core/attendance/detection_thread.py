"""Full face detection on a thread of its own, so a frame's latency is not the full detector's.

The recogniser hands over the newest frame whenever the thread is idle and picks the faces up on a later
frame; in between it relocates the faces it already follows (`Recogniser.find_faces`). On a 2-core laptop
the two run side by side, each on one torch thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from core.vision.detect import Detection

logger = logging.getLogger(__name__)


class BackgroundDetection:
    """One detection at a time on a daemon thread: `submit` a frame when `idle`, `take` its faces later."""

    def __init__(self, detect: Callable[[np.ndarray], list[Detection]], name: str = "rollcall-detect") -> None:
        self._detect = detect
        self._cond = threading.Condition()
        self._job: np.ndarray | None = None
        self._result: list[Detection] | None = None
        self._error: BaseException | None = None
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def idle(self) -> bool:
        """Nothing being detected and nothing waiting to be taken."""
        with self._cond:
            return not self._busy and self._job is None and self._result is None

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, image: np.ndarray) -> bool:
        """Start detecting `image` (kept as given: pass a frame nobody writes to); False when busy or closed."""
        with self._cond:
            if self._closed or self._busy or self._job is not None or self._result is not None:
                return False
            self._job = image
            self._cond.notify()
            return True

    def take(self) -> list[Detection] | None:
        """The faces of the last frame submitted once detected (then None until the next one finishes).
        An exception the detector raised is raised here, in the caller's thread."""
        with self._cond:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            result, self._result = self._result, None
            return result

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current detection has finished (for tests and reproducible runs)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy and self._job is None, timeout)

    def close(self, timeout: float = 0.0) -> None:
        """Stop the thread once its current detection (if any) ends; waits for it up to `timeout` seconds
        (0: returns at once, as a run's close must)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if timeout > 0 and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._job is not None)
                if self._closed:
                    return
                image, self._job, self._busy = self._job, None, True
            result, error = None, None
            try:
                result = self._detect(image)
            except BaseException as exc:  # noqa: BLE001 - handed to the recogniser's thread by `take`
                logger.debug("background detection failed", exc_info=True)
                error = exc
            with self._cond:
                self._result, self._error, self._busy = result, error, False
                self._cond.notify_all()
