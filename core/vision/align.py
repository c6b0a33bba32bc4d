"""Face alignment: a similarity transform from five landmarks to a template.

Landmark order everywhere in Rollcall: eye on the image's left, eye on the
image's right, nose tip, mouth corner on the image's left, mouth corner on
the image's right. Coordinates are pixels, x then y.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# The 5-point template of ArcFace-style recognisers (insightface), for a
# 112x112 crop. It is defined here and nowhere else.
ARCFACE_112_POINTS = (
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
)


@dataclass(frozen=True)
class AlignmentTemplate:
    """Where the five landmarks go in a square crop of `size` pixels."""

    points: tuple[tuple[float, float], ...]
    size: int

    def __post_init__(self) -> None:
        if len(self.points) != 5 or any(len(p) != 2 for p in self.points):
            raise ValueError("an alignment template needs exactly five (x, y) points")
        if self.size <= 0:
            raise ValueError(f"template size must be positive, got {self.size}")

    def array(self, size: int | None = None) -> np.ndarray:
        """The points as a (5, 2) float array, scaled to a crop of `size` pixels."""
        pts = np.asarray(self.points, dtype=np.float64)
        if size is not None and size != self.size:
            pts = pts * (size / self.size)
        return pts

    def scaled(self, size: int) -> AlignmentTemplate:
        pts = self.array(size)
        return AlignmentTemplate(tuple((float(x), float(y)) for x, y in pts), size)


ARCFACE_TEMPLATE = AlignmentTemplate(ARCFACE_112_POINTS, 112)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src to dst.

    Umeyama's closed form; returns a 2x3 matrix for cv2.warpAffine.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need matching (N>=2, 2) point arrays, got {src.shape} and {dst.shape}")
    n = len(src)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / n
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0
    rot = u @ np.diag(d) @ vt
    src_var = (src_c**2).sum() / n
    scale = (s * d).sum() / src_var if src_var > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = dst_mean - scale * rot @ src_mean
    return m


def align_face(
    image: np.ndarray,
    landmarks: np.ndarray,
    template: AlignmentTemplate = ARCFACE_TEMPLATE,
    size: int | None = None,
) -> np.ndarray:
    """Warp the face given by `landmarks` into a `size` x `size` crop laid out as `template`.

    When the face is much larger than the crop, the source region is first
    reduced with area averaging so that the crop does not alias (bilinear
    sampling alone would skip pixels). Pixels outside the image are black.
    """
    size = int(size or template.size)
    if size <= 0:
        raise ValueError(f"crop size must be positive, got {size}")
    landmarks = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    dst = template.array(size)
    m = similarity_transform(landmarks, dst)
    scale = float(np.hypot(m[0, 0], m[0, 1]))
    if scale < 0.5:
        image, landmarks = _reduce_around(image, landmarks, m, size, scale)
        m = similarity_transform(landmarks, dst)
    return cv2.warpAffine(
        image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def _reduce_around(
    image: np.ndarray, landmarks: np.ndarray, m: np.ndarray, size: int, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the region the crop will read, shrink it by area averaging, shift landmarks to match."""
    inv = cv2.invertAffineTransform(m)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64)
    src = corners @ inv.T
    h, w = image.shape[:2]
    x0 = int(max(0, np.floor(src[:, 0].min()) - 2))
    y0 = int(max(0, np.floor(src[:, 1].min()) - 2))
    x1 = int(min(w, np.ceil(src[:, 0].max()) + 2))
    y1 = int(min(h, np.ceil(src[:, 1].max()) + 2))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return image, landmarks
    region = image[y0:y1, x0:x1]
    factor = 2.0 * scale  # after shrinking, the warp scales by about 0.5: bilinear is then safe
    new_w = max(1, int(round(region.shape[1] * factor)))
    new_h = max(1, int(round(region.shape[0] * factor)))
    small = cv2.resize(region, (new_w, new_h), interpolation=cv2.INTER_AREA)
    fx = new_w / region.shape[1]
    fy = new_h / region.shape[0]
    moved = (landmarks - [x0, y0] + 0.5) * [fx, fy] - 0.5  # pixel centres
    return small, moved
