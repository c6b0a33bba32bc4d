"""YuNet face detector (OpenCV's cv2.FaceDetectorYN) from a user-supplied ONNX file."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import cv2
import numpy as np

from core.vision.detect.base import Detection, Detector
from core.protected_files import ensure_not_database_file
from core.errors import ConfigError, ModelFileError

logger = logging.getLogger(__name__)

# Chosen on the identity-disjoint training photos (../shared/train/celeba76, in-the-wild, one
# person each): OpenCV's sample value 0.9 found no face in 5.0 % of them, 0.8 in 0.8 %, 0.7 in
# 0.66 %, 0.6 in 0.44 % at the cost of more spurious boxes (see docs/BENCHMARKS.md).
DEFAULT_SCORE_THRESHOLD = 0.7


class YuNetDetector(Detector):
    """Box, score and five landmarks per face. Landmark order from YuNet is already ours
    (image-left eye first), since YuNet names points from the subject's view."""

    name = "yunet"

    def __init__(
        self,
        model_path: str | Path,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        nms_threshold: float = 0.3,
        min_face_size: int = 0,
    ) -> None:
        path = Path(model_path)
        ensure_not_database_file(path, "the YuNet model")  # loading it would drop SQLite's locks
        if not 0.0 < score_threshold < 1.0:
            raise ConfigError(f"YuNet score threshold must be between 0 and 1, got {score_threshold}")
        if not path.is_file():
            raise ModelFileError(path, "the YuNet model file does not exist", "Choose the .onnx file in Settings.")
        if path.stat().st_size == 0:
            raise ModelFileError(path, "the YuNet model file is empty")
        previous = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # OpenCV warns about targets on every load
        try:
            self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold, nms_threshold, 5000)
        except cv2.error as exc:
            raise ModelFileError(
                path, "OpenCV cannot load it as a YuNet ONNX model", "Use face_detection_yunet_2023mar.onnx."
            ) from exc
        finally:
            cv2.utils.logging.setLogLevel(previous)
        self.path = path
        self.min_face_size = int(min_face_size)
        self._lock = threading.Lock()  # the OpenCV object keeps per-call state (input size)

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        if h < 10 or w < 10:
            return []
        with self._lock:
            self._net.setInputSize((w, h))
            try:
                _, faces = self._net.detect(np.ascontiguousarray(image))
            except cv2.error as exc:
                raise ModelFileError(self.path, f"YuNet failed on a {w}x{h} image ({exc.err})") from exc
        if faces is None:
            return []
        out = []
        for row in faces:
            x, y, bw, bh = row[:4]
            if max(bw, bh) < self.min_face_size:
                continue
            box = np.array([x, y, x + bw, y + bh], dtype=np.float32)
            box[[0, 2]] = np.clip(box[[0, 2]], 0, w)
            box[[1, 3]] = np.clip(box[[1, 3]], 0, h)
            landmarks = np.asarray(row[4:14], dtype=np.float32).reshape(5, 2)
            out.append(Detection(box, float(row[14]), landmarks))
        out.sort(key=lambda d: d.score, reverse=True)
        return out
