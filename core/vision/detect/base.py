"""The detector interface: an image in, faces with box, score and five landmarks out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detection:
    """One face found in an image, in that image's pixel coordinates.

    box: (x1, y1, x2, y2); score: detector confidence in [0, 1];
    landmarks: (5, 2) array ordered as in `core.vision.align` (left eye, right eye,
    nose tip, left mouth corner, right mouth corner, "left" meaning the
    image's left).
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    def scaled(self, factor: float) -> Detection:
        """The same face in an image resized by `factor` (coordinates multiplied)."""
        return Detection(self.box * factor, self.score, self.landmarks * factor)


class Detector(ABC):
    """Finds faces in BGR uint8 images (H, W, 3)."""

    name: str = "detector"
    relocates: bool = False  # True when `relocate` finds known faces again cheaply

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in `image`, highest score first. An image without faces gives []."""

    def relocate(self, image: np.ndarray, boxes: np.ndarray) -> list[Detection | None] | None:
        """Faces known to be near `boxes` (N, 4) found again cheaply (each one's Detection, or None where
        it is gone); None when this detector cannot, and callers run `detect` instead."""
        return None

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Detection]]:
        return [self.detect(im) for im in images]
