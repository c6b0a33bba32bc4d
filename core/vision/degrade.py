"""Low-resolution faces on purpose: the benchmark's downscaling and the DSR training degradation.

`face_width` (the span of the 112 px template crop) is the one size measure shared by the pipeline, the
benchmark and training; `downscale_face` is the benchmark's deterministic shrink, `degrade_face` and
`training_pair` the seeded training degradation.

Face width: docs/BENCHMARKS.md#the-low-resolution-benchmark-protocol
Degradation: docs/TRAINER.md#the-training-degradation
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.vision.align import ARCFACE_TEMPLATE, AlignmentTemplate, align_face, similarity_transform
from core.errors import InvalidImageError

TEMPLATE_SIZE = ARCFACE_TEMPLATE.size


def face_width(landmarks: np.ndarray, template: AlignmentTemplate = ARCFACE_TEMPLATE) -> float:
    """Image pixels spanned by the template's crop for this face (docs/BENCHMARKS.md, "Face width")."""
    lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    m = similarity_transform(lm, template.array())
    scale = float(np.hypot(m[0, 0], m[0, 1]))  # template px per image px
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError("degenerate landmarks: all five points coincide")
    return template.size / scale


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
        raise InvalidImageError(f"expected a uint8 image (H, W[, C]), got {image.shape} {image.dtype}")
    return image


def scale_landmarks(landmarks: np.ndarray, fx: float, fy: float) -> np.ndarray:
    """Landmarks of an image resized by (fx, fy), pixel centres kept in place."""
    lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    return (lm + 0.5) * [fx, fy] - 0.5


def downscale_face(
    image: np.ndarray, landmarks: np.ndarray, face_px: float
) -> tuple[np.ndarray, np.ndarray]:
    """The whole image shrunk with area interpolation so the face is `face_px` wide; and its landmarks.

    Never enlarges: a face already at most `face_px` wide comes back unchanged.
    """
    image = _check_image(image)
    if face_px <= 0:
        raise ValueError(f"face_px must be positive, got {face_px}")
    factor = face_px / face_width(landmarks)
    lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    if factor >= 1.0:
        return image.copy(), lm.copy()
    h, w = image.shape[:2]
    new_w, new_h = max(1, int(round(w * factor))), max(1, int(round(h * factor)))
    small = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return small, scale_landmarks(lm, new_w / w, new_h / h)


@dataclass(frozen=True)
class Degradation:
    """Ranges of the training degradation (each drawn uniformly per sample)."""

    face_px: tuple[float, float] = (12.0, 32.0)  # face width after downscaling
    blur_prob: float = 0.5
    blur_sigma: tuple[float, float] = (0.3, 1.2)  # in low-res pixels
    noise_prob: float = 0.5
    noise_sigma: tuple[float, float] = (1.0, 8.0)  # grey levels
    jpeg_prob: float = 0.5
    jpeg_quality: tuple[int, int] = (40, 95)
    # The detector's landmark error on small faces, in low-res pixels: each landmark moves by its own
    # N(0, jitter_px) and all five together by N(0, shift_px) per axis. Defaults: MTCNN's (the app's
    # default detector); see LANDMARK_NOISE.
    jitter_px: float = 0.4
    shift_px: float = 0.5


# (jitter_px, shift_px) of each detector, measured on 12-32 px faces of training photos against the same
# detector's full-resolution landmarks (`python -m bench.landmark_error`; docs/BENCHMARKS.md, "Landmark
# error on small faces"): root mean square spread of each point around the five's mean, and of that mean.
LANDMARK_NOISE = {"mtcnn": (0.4, 0.5), "yunet": (0.8, 1.2)}


def landmark_noise(detector: str) -> tuple[float, float]:
    """(jitter_px, shift_px) for a detector spec ("mtcnn", "yunet:PATH"); MTCNN's for one not measured."""
    return LANDMARK_NOISE.get(detector.split(":", 1)[0].strip().lower(), LANDMARK_NOISE["mtcnn"])


def degrade_face(
    image: np.ndarray,
    landmarks: np.ndarray,
    rng: np.random.Generator,
    out_size: int = 28,
    params: Degradation = Degradation(),
    template: AlignmentTemplate = ARCFACE_TEMPLATE,
) -> np.ndarray:
    """A low-res aligned crop (`out_size` px, `template` scaled down) of the face at `landmarks`.

    Steps, in order: cut a generous region around the face; shrink it with area
    interpolation so the face is U(face_px) wide; Gaussian blur; Gaussian noise;
    JPEG round trip; move the landmarks (each, and all together); align with `align_face` exactly as the
    pipeline aligns a small face. Same `rng` state in, same crop out.
    The matching high-res target is `align_face(image, landmarks, template, 112)`.
    """
    image = _check_image(image)
    lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    region, lm = _face_region(image, lm, template)
    lo, hi = params.face_px
    face_px = float(rng.uniform(lo, hi))
    small, small_lm = downscale_face(region, lm, face_px)
    if rng.random() < params.blur_prob:
        sigma = float(rng.uniform(*params.blur_sigma))
        small = cv2.GaussianBlur(small, (0, 0), sigmaX=sigma, sigmaY=sigma)
    if rng.random() < params.noise_prob:
        sigma = float(rng.uniform(*params.noise_sigma))
        noisy = small.astype(np.float32) + rng.normal(0.0, sigma, small.shape).astype(np.float32)
        small = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    if rng.random() < params.jpeg_prob:
        quality = int(rng.integers(params.jpeg_quality[0], params.jpeg_quality[1] + 1))
        ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            small = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).reshape(small.shape)
    if params.jitter_px > 0:
        small_lm = small_lm + rng.normal(0.0, params.jitter_px, small_lm.shape)
    if params.shift_px > 0:
        small_lm = small_lm + rng.normal(0.0, params.shift_px, (1, 2))
    return align_face(small, small_lm, template, out_size)


def training_pair(
    image: np.ndarray,
    landmarks: np.ndarray,
    rng: np.random.Generator,
    lr_size: int = 28,
    hr_size: int = TEMPLATE_SIZE,
    params: Degradation = Degradation(),
) -> tuple[np.ndarray, np.ndarray]:
    """(degraded low-res crop, high-res target crop) of one face, both aligned to the ArcFace template."""
    lr = degrade_face(image, landmarks, rng, lr_size, params)
    return lr, align_face(image, landmarks, ARCFACE_TEMPLATE, hr_size)


def _face_region(
    image: np.ndarray, landmarks: np.ndarray, template: AlignmentTemplate
) -> tuple[np.ndarray, np.ndarray]:
    """The part of the image around the face (twice the template crop's span), landmarks shifted.

    Degrading this region instead of the whole photo gives the same pixels near
    the face and keeps the cost independent of the photo's size.
    """
    width = face_width(landmarks, template)
    centre = landmarks.mean(axis=0)
    h, w = image.shape[:2]
    x0, y0 = (int(max(0, np.floor(c - width))) for c in centre)
    x1 = int(min(w, np.ceil(centre[0] + width)))
    y1 = int(min(h, np.ceil(centre[1] + width)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return image, landmarks
    return image[y0:y1, x0:x1], landmarks - [x0, y0]
