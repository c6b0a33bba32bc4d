"""Image-quality figures of a detected face (size, sharpness, a rough pose from landmarks) and the trust
rule that decides whether a face may vote towards a mark (`vote_verdict`)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.vision.degrade import face_width as template_face_width

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

# The trust rule (which faces vote). Widths are `face_width` (core.vision.degrade: the pixels the 112 px ArcFace
# crop spans, ~3.2 eye distances; MTCNN's box side is about 0.94 of it), the unit of the low-resolution
# benchmark and of the small-face route's `sr_below_px`. Figures: docs/BENCHMARKS.md, "Which faces take the
# route in the app" (bench.sr_crossover on the 15 validation people of the training data, never the benchmark).
# SMALL_FACE_PX is NOT a vote floor: it is the enrolment gate the project started with, not a measurement, and
# direct alignment still gives 0.9065 (dlib) / 0.9120 (EdgeFace-XS) verification accuracy at 32 px there.
#
# Direct route floor, 16 px: at 12 px direct alignment has collapsed (dlib 0.686, TAR 0.027 at FAR 1e-2,
# hardly above bicubic's 0.6315) and the DSR beats it (0.7195; EdgeFace-XS 0.7600 vs 0.7505); from 16 px on
# direct is the better route for both embedders (dlib 0.7865, TAR 0.149) and improves with width. So a face
# narrower than 16 px votes only through a DSR; 16 px is also where the route hands over (DEFAULT_SR_BELOW_PX).
DIRECT_MIN_FACE_WIDTH = 16.0
# DSR route floor, 12 px: the narrowest width the DSR was trained on (degradation U(12, 32) px) and measured at,
# where it is still the best route (above); below 12 px nothing was measured and the DSR never saw such faces.
DSR_MIN_FACE_WIDTH = 12.0
# Blur: a face whose `detail` (native_sharpness) is below BLURRY_SHARPNESS does not vote. The constant keeps its
# provenance above (well-lit faces 112 px and wider measure the same either way); what changed is that small and
# dim faces are judged at their own resolution and a reference contrast (native_sharpness). No benchmark has
# yet measured recognition against blur, so this floor is the enrolment gate's, not a measured one.
CONTRAST_REF_STD = 40.0  # see native_sharpness
ROUTES = ("direct", "small")  # "small": upscaled by a DSR before embedding; "direct": aligned from the image
HINT_TOO_SMALL = "too small"
HINT_BLURRY = "blurry"


@dataclass(frozen=True)
class FaceQuality:
    """face_size: box side in source pixels (max of width and height);
    eye_distance: pixels between the eye landmarks;
    sharpness: variance of the Laplacian of the grey aligned crop at 112 px (blurry below BLURRY_SHARPNESS);
    yaw: nose offset from the eyes' midline, in eye distances (0 frontal, |yaw| > 0.5 strongly turned);
    roll: eye-line angle in degrees;
    face_width: pixels the ArcFace template's crop spans (`core.vision.degrade.face_width`; 0 when unknown);
    detail: sharpness at the face's own resolution (`native_sharpness`), what the trust rule judges."""

    face_size: float
    eye_distance: float
    sharpness: float
    yaw: float
    roll: float
    face_width: float = 0.0
    detail: float = 0.0


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
    try:
        width = template_face_width(landmarks)
    except ValueError:  # degenerate landmarks
        width = 0.0
    return FaceQuality(
        face_size=float(max(box[2] - box[0], box[3] - box[1])),
        eye_distance=eye_distance,
        sharpness=sharpness(crop),
        yaw=yaw,
        roll=roll,
        face_width=width,
        detail=native_sharpness(crop, width),
    )


# A damaged JPEG decodes with the rest of the image filled with one flat colour (libjpeg pads missing data
# with zero coefficients: rows of mid-grey, every row the same). Natural photos measured with `uniform_fill`,
# all 3617 shared images (faces/, bench/, train/, video refs): at most 0.27 (letterbox bars); damaged copies
# of faces/misc photos truncated at 30 %: 0.73-0.83. A face box has no repeated rows unless damage crosses it.
DAMAGED_FILL = 0.5  # more of the photo's rows than this repeating the row above: "looks damaged"
DAMAGED_FACE_FILL = 0.2  # the same within the face's box


def uniform_fill(image: np.ndarray) -> float:
    """The fraction of an image's rows that are exactly the row above (0 for a natural photo)."""
    height = image.shape[0]
    if height < 2:
        return 0.0
    rows = np.ascontiguousarray(image).reshape(height, -1)
    same = 0
    for start in range(1, height, 256):  # in bands, so a 40 MP photo needs no 120 MB temporary
        stop = min(height, start + 256)
        same += int(np.count_nonzero((rows[start:stop] == rows[start - 1 : stop - 1]).all(axis=1)))
    return same / (height - 1)


def is_small(quality: FaceQuality) -> bool:
    return quality.face_size < SMALL_FACE_PX


def is_blurry(quality: FaceQuality) -> bool:
    return quality.sharpness < BLURRY_SHARPNESS


def sharpness(crop: np.ndarray) -> float:
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    if grey.shape[0] != SHARPNESS_SIZE:
        grey = cv2.resize(grey, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def native_sharpness(crop: np.ndarray, width: float) -> float:
    """`sharpness` judged fairly for small and dim faces (equal to `sharpness` for a well-lit face 112 px or
    wider). Figures from 30 training photos (celeba76; python -m bench.face_sharpness, docs/BENCHMARKS.md
    "Which faces vote (issue 14)"):
    - Resolution: at 112 px a sharp but small face looks blurry, because its crop was upscaled: sharp faces
      shrunk to 32 px have a median `sharpness` of 24 (48 px: 46; 93 % and 37 % below BLURRY_SHARPNESS). So
      the crop is shrunk back to the face's own width first; then no sharp face falls below BLURRY_SHARPNESS
      down to 16 px, while faces blurred by about 2 of their own pixels mostly still do (87 % at 64 px).
    - Contrast: the Laplacian's variance grows with the square of the contrast, so a sharp face in dim
      light looks blurry (27 % of darkened photos by `sharpness`). A crop whose grey std is below
      CONTRAST_REF_STD (about the 10th percentile of the well-lit training faces, 40.8) is judged as if
      stretched to that contrast (at most 4x): 7 % of the darkened photos then fall below."""
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    if grey.shape[0] != SHARPNESS_SIZE:
        grey = cv2.resize(grey, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
    side = int(round(width))
    if 8 <= side < SHARPNESS_SIZE:
        grey = cv2.resize(grey, (side, side), interpolation=cv2.INTER_AREA)
    grey = grey.astype(np.float32)
    gain = min(4.0, CONTRAST_REF_STD / max(float(grey.std()), 1e-6))
    return float(cv2.Laplacian(grey, cv2.CV_32F).var()) * max(1.0, gain) ** 2


def route_floor(route: str) -> float:
    """The narrowest face (face_width, px) that may vote on `route` ("direct" or "small", the DSR route)."""
    if route == "small":
        return DSR_MIN_FACE_WIDTH
    if route == "direct":
        return DIRECT_MIN_FACE_WIDTH
    raise ValueError(f"unknown route '{route}': expected one of {', '.join(ROUTES)}")


def vote_verdict(quality: FaceQuality, route: str) -> tuple[bool, str]:
    """(votes, hint): whether a face may count towards a mark, and why not ("too small", "blurry"; "" when
    it votes). `route` is how its embedding was made: "small" only when a DSR upscaled it (bicubic
    upscaling is no better than direct alignment on the training data, so such faces are judged as
    "direct"). Sharpness is judged at the face's own resolution (`FaceQuality.detail`)."""
    if quality.face_width < route_floor(route):
        return False, HINT_TOO_SMALL
    if quality.detail < BLURRY_SHARPNESS:
        return False, HINT_BLURRY
    return True, ""
