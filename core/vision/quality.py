"""Image-quality figures of a detected face: size, sharpness and a rough pose from landmarks."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SHARPNESS_SIZE = 112  # sharpness is measured on crops resampled to this size, so faces compare

# The quality thresholds every part of Rollcall uses: enrolment's gates and the live view's hints, so
# that what enrolment rejects and what the live view calls "small" or "blurry" agree (the live hint
# used 25 and this docstring said ~50 before). Both are the enrolment gates the project started with
# (the first core/gallery/enrol.py), not a benchmark result. 48 px is a face box about half the 112 px crop the
# embedders see. Sharpness of the main face in three shared photos (faces/misc/obama.jpg, biden.jpg,
# faces/knn/train/obama/obama2.jpg, MTCNN + dlib): sharp 330-550; Gaussian blur sigma 2: 110-190,
# sigma 4: 28-57, sigma 6: 12-26. So 40 calls sigma 6 blurry and most of sigma 4, never sigma 2.
SMALL_FACE_PX = 48.0  # face box side (pixels) below which a face is "small"
BLURRY_SHARPNESS = 40.0  # sharpness (variance of the Laplacian at 112 px) below which a face is "blurry"


@dataclass(frozen=True)
class FaceQuality:
    """face_size: box side in source pixels (max of width and height);
    eye_distance: pixels between the eye landmarks;
    sharpness: variance of the Laplacian of the grey aligned crop at 112 px (blurry below BLURRY_SHARPNESS);
    yaw: nose offset from the eyes' midline, in eye distances (0 frontal, |yaw| > 0.5 strongly turned);
    roll: eye-line angle in degrees."""

    face_size: float
    eye_distance: float
    sharpness: float
    yaw: float
    roll: float


def measure_quality(box: np.ndarray, landmarks: np.ndarray, crop: np.ndarray) -> FaceQuality:
    left_eye, right_eye, nose = landmarks[0], landmarks[1], landmarks[2]
    eye_vec = right_eye - left_eye
    eye_distance = float(np.hypot(*eye_vec))
    roll = float(np.degrees(np.arctan2(eye_vec[1], eye_vec[0])))
    if eye_distance > 1e-6:
        # signed distance of the nose from the perpendicular bisector of the eyes
        mid = (left_eye + right_eye) / 2.0
        yaw = float(np.dot(nose - mid, eye_vec / eye_distance) / eye_distance)
    else:
        yaw = 0.0
    return FaceQuality(
        face_size=float(max(box[2] - box[0], box[3] - box[1])),
        eye_distance=eye_distance,
        sharpness=sharpness(crop),
        yaw=yaw,
        roll=roll,
    )


def is_small(quality: FaceQuality) -> bool:
    return quality.face_size < SMALL_FACE_PX


def is_blurry(quality: FaceQuality) -> bool:
    return quality.sharpness < BLURRY_SHARPNESS


def sharpness(crop: np.ndarray) -> float:
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    if grey.shape[0] != SHARPNESS_SIZE:
        grey = cv2.resize(grey, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())
