"""Face detectors behind one interface (`Detector`), chosen by a short spec string."""

from __future__ import annotations

from core.vision.detect.base import Detection, Detector
from core.errors import ConfigError

__all__ = ["Detection", "Detector", "create_detector"]


def create_detector(spec: str = "mtcnn", *, min_face_size: int = 20, device: str = "cpu") -> Detector:
    """"mtcnn" (default, weights from the mtcnn package) or "yunet:PATH/TO/model.onnx"."""
    kind, _, arg = spec.partition(":")
    if kind == "mtcnn" and not arg:
        from core.vision.detect.mtcnn import MTCNNDetector

        return MTCNNDetector(min_face_size=min_face_size, device=device)
    if kind == "yunet":
        if not arg:
            raise ConfigError("YuNet needs its model file: use 'yunet:PATH/TO/face_detection_yunet_2023mar.onnx'")
        from core.vision.detect.yunet import YuNetDetector

        return YuNetDetector(arg, min_face_size=min_face_size)
    raise ConfigError(f"unknown detector '{spec}': use 'mtcnn' or 'yunet:PATH'")
