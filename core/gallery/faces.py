"""Stored face images and the embeddings made from them, shared by enrolment and re-embedding.

A sample keeps a loosely aligned face (`FACE_TEMPLATE`, JPEG) and its landmarks
there, so any model can cut its own crop from it later (`model_crops`). An
enrolment embedding is the mean over jittered copies of the crop
(`enrolment_embeddings`), seeded so that re-embedding a face sees the same copies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from core.vision.align import ARCFACE_TEMPLATE, AlignmentTemplate, align_face, similarity_transform
from core.gallery.records import GalleryError, normalise
from core.vision.models.base import Embedder

# Stored face images: the ArcFace layout enlarged 1.6x and centred in 256 px, which leaves
# room for every model's crop (dlib's chip reaches further down the chin).
FACE_SIZE = 256
FACE_TEMPLATE = AlignmentTemplate(
    tuple((x * 1.6 + (FACE_SIZE - 112 * 1.6) / 2, y * 1.6 + (FACE_SIZE - 112 * 1.6) / 2) for x, y in ARCFACE_TEMPLATE.points),
    FACE_SIZE,
)
JPEG_QUALITY = 92
ENROL_JITTERS = 10  # extra moved copies per enrolment crop (plus the crop and its mirror)


@dataclass
class FaceSample:
    """A face ready to store: the image in FACE_TEMPLATE layout, its landmarks there, quality and origin."""

    face: np.ndarray  # BGR uint8 (FACE_SIZE, FACE_SIZE, 3)
    landmarks: np.ndarray  # (5, 2) in `face` coordinates
    face_size: float
    sharpness: float
    yaw: float
    det_score: float
    source: str

    def jpeg(self) -> bytes:
        ok, buf = cv2.imencode(".jpg", self.face, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise GalleryError("could not encode a face image")
        return buf.tobytes()


def face_sample_from(image: np.ndarray, landmarks: np.ndarray, *, face_size: float, sharpness: float,
                     yaw: float, det_score: float, source: str) -> FaceSample:
    """Cut the stored face image out of a full image, and carry the landmarks into it."""
    face = align_face(image, landmarks, FACE_TEMPLATE)
    m = similarity_transform(np.asarray(landmarks, np.float64), FACE_TEMPLATE.array())
    moved = np.asarray(landmarks, np.float64) @ m[:, :2].T + m[:, 2]
    return FaceSample(face, moved.astype(np.float32), face_size, sharpness, yaw, det_score, source)


def model_crops(embedder: Embedder, faces: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Crops laid out for `embedder` from stored face images and their landmarks."""
    spec = embedder.spec
    crops = [align_face(face, lm, spec.template, spec.size) for face, lm in faces]
    return np.stack(crops) if crops else np.zeros((0, spec.size, spec.size, 3), np.uint8)


def jittered(crop: np.ndarray, n: int = ENROL_JITTERS, seed: int = 0) -> np.ndarray:
    """The crop, its mirror image and `n` slightly moved copies (rotation within 3 degrees, scale
    0.97-1, shift within 2 %, half of them mirrored), as dlib's face-descriptor jitter does.
    Seeded, so that re-embedding a stored face always sees the same copies."""
    rng = np.random.default_rng(seed)
    size = crop.shape[0]
    out = [crop, crop[:, ::-1]]
    for _ in range(n):
        m = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-3, 3), 1.0 / rng.uniform(0.97, 1.0))
        m[:, 2] += rng.uniform(-0.02, 0.02, 2) * size
        copy = cv2.warpAffine(crop, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        out.append(copy[:, ::-1] if rng.random() < 0.5 else copy)
    return np.ascontiguousarray(np.stack(out))


def enrolment_embeddings(embedder: Embedder, crops: np.ndarray, jitters: int = ENROL_JITTERS) -> np.ndarray:
    """One embedding per enrolment crop: the normalised mean over the crop's jittered copies.
    A sample's embedding is then less sensitive to the exact alignment of a single photo; the
    same function serves enrolment and re-embedding, so both agree."""
    if len(crops) == 0:
        return np.zeros((0, embedder.dim), np.float32)
    views = [jittered(c, jitters) for c in crops]
    flat = embedder.embed(np.concatenate(views))
    per = len(views[0])
    return normalise(flat.reshape(len(crops), per, -1).mean(axis=1))
