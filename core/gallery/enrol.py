"""Enrolment: turning photos or camera frames into checked face samples, then a person.

Every image passes quality gates and gets a verdict with a reason an operator
understands ("no face found", "2 faces: choose one", "face too small: 31 px,
needs 48"...). Embeddings are computed from the stored face image, exactly as a
later model switch will recompute them, so a person's samples are consistent
whichever way they were embedded. Before saving, `possible_duplicates` says
whether the new person looks like someone already enrolled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.vision.detect.base import Detection
from core.errors import ImageReadError, InvalidImageError, path_text
from core.gallery.store import Gallery, GalleryError, ModelRecord, Person
from core.gallery.faces import ENROL_JITTERS, FaceSample, enrolment_embeddings, face_sample_from, model_crops
from core.gallery.records import normalise
from core.vision.imageio import read_image, to_bgr8
from core.gallery.matching import TemplateIndex
from core.vision.pipeline import FacePipeline
from core.vision.quality import BLURRY_SHARPNESS, DAMAGED_FACE_FILL, DAMAGED_FILL, SMALL_FACE_PX, measure_quality, uniform_fill

logger = logging.getLogger(__name__)

RECOMMENDED_SAMPLES = (3, 7)
DOMINANT_FACE_RATIO = 2.0


@dataclass(frozen=True)
class QualityPolicy:
    """Gates a sample must pass. face_size: box side in pixels; sharpness: variance of the
    Laplacian of the face at 112 px (both default to core.vision.quality's thresholds); yaw: nose offset
    from the eyes' midline in eye distances."""

    min_face_size: float = SMALL_FACE_PX
    min_sharpness: float = BLURRY_SHARPNESS
    max_abs_yaw: float = 0.4


@dataclass
class SampleVerdict:
    source: str
    ok: bool
    reason: str = ""
    sample: FaceSample | None = None
    embedding: np.ndarray | None = None
    detections: list[Detection] = field(default_factory=list)
    crop: np.ndarray | None = None  # the aligned crop the model saw, for previews


@dataclass(frozen=True)
class DuplicateWarning:
    person: Person
    score: float


class Enroller:
    def __init__(self, pipeline: FacePipeline, gallery: Gallery, policy: QualityPolicy | None = None,
                 jitters: int = ENROL_JITTERS) -> None:
        self.pipeline = pipeline
        self.jitters = jitters
        self.gallery = gallery
        self.policy = policy or QualityPolicy()
        model = gallery.register_model(pipeline.embedder)
        active = gallery.active_model()
        if active is None:
            model = gallery.activate_model(pipeline.embedder)  # empty gallery: nothing to re-embed
        elif active.id != model.id:
            raise GalleryError(
                f"enrolment uses the model '{model.name}' but the gallery's active model is '{active.name}'; "
                f"switch the active model first"
            )
        self.model: ModelRecord = model

    def check_file(self, path: str | Path, face_index: int | None = None) -> SampleVerdict:
        """A verdict on the photo at `path`; its `source` is `path_text(path)`, what the gallery stores."""
        source = path_text(path)
        try:
            image = read_image(path)
        except ImageReadError as exc:
            return SampleVerdict(source, False, str(exc))
        return self.check(image, source, face_index)

    def check(self, image: np.ndarray, source: str, face_index: int | None = None) -> SampleVerdict:
        """One image -> a verdict with the sample and its embedding when every gate passes."""
        try:
            img = to_bgr8(image)
        except InvalidImageError as exc:
            return SampleVerdict(source, False, str(exc))
        detections = sorted(self.pipeline.detect(img), key=lambda d: d.box[0])  # left to right
        if not detections:
            return SampleVerdict(source, False, "no face found")
        fill = uniform_fill(img)
        if fill > DAMAGED_FILL:  # a damaged file: the decoder filled the rest with one colour
            return SampleVerdict(source, False, f"the photo looks damaged ({fill:.0%} uniform fill)",
                                 detections=detections)
        if face_index is None and len(detections) > 1:
            # A face at least twice the size of every other one is the person being enrolled (the
            # others are people far behind, or spurious detections); similar sizes are ambiguous.
            sizes = [max(d.width, d.height) for d in detections]
            largest = int(np.argmax(sizes))
            if any(s * DOMINANT_FACE_RATIO > sizes[largest] for i, s in enumerate(sizes) if i != largest):
                return SampleVerdict(source, False, f"{len(detections)} faces found: choose which one",
                                     detections=detections)
            face_index = largest
        if face_index is not None and not 0 <= face_index < len(detections):
            return SampleVerdict(source, False, f"there is no face number {face_index + 1} (found {len(detections)})",
                                 detections=detections)
        det = detections[face_index or 0]
        fill = _face_fill(img, det.box)
        if fill > DAMAGED_FACE_FILL:
            return SampleVerdict(source, False, f"the face looks damaged ({fill:.0%} uniform fill)",
                                 detections=detections)
        sample = face_sample_from(img, det.landmarks, face_size=0.0, sharpness=0.0, yaw=0.0,
                                  det_score=det.score, source=source)
        crop = model_crops(self.pipeline.embedder, [(sample.face, sample.landmarks)])
        quality = measure_quality(det.box, det.landmarks, crop[0])
        sample.face_size, sample.sharpness, sample.yaw = quality.face_size, quality.sharpness, quality.yaw
        p = self.policy
        reason = ""
        if quality.face_size < p.min_face_size:
            reason = f"face too small: {quality.face_size:.0f} px, needs {p.min_face_size:.0f}"
        elif quality.sharpness < p.min_sharpness:
            reason = f"too blurry: sharpness {quality.sharpness:.0f}, needs {p.min_sharpness:.0f}"
        elif abs(quality.yaw) > p.max_abs_yaw:
            reason = f"face turned too far to the side (yaw {quality.yaw:+.2f}); look at the camera"
        if reason:
            return SampleVerdict(source, False, reason, detections=detections, crop=crop[0])
        embedding = enrolment_embeddings(self.pipeline.embedder, crop, self.jitters)[0]
        return SampleVerdict(source, True, "", sample, embedding, detections, crop[0])

    def possible_duplicates(self, verdicts: list[SampleVerdict], exclude_person: int | None = None) -> list[DuplicateWarning]:
        """Enrolled people whose template matches the new samples' mean above the model's threshold."""
        embeddings = [v.embedding for v in verdicts if v.ok and v.embedding is not None]
        if not embeddings:
            return []
        template = normalise(np.mean(embeddings, axis=0))
        ids, names, matrix = self.gallery.templates(self.model.id)
        index = TemplateIndex(ids, names, matrix)
        scores, rows = index.search(template, k=5)
        warnings = []
        for score, row in zip(scores[0], rows[0]):
            pid = int(index.person_ids[row])
            if score >= self.model.threshold and pid != exclude_person:
                warnings.append(DuplicateWarning(self.gallery.person(pid), float(score)))
        return warnings

    def enrol(self, name: str, verdicts: list[SampleVerdict], **fields: str | None) -> Person:
        """Save a new person from the accepted verdicts, all or nothing."""
        good = [v for v in verdicts if v.ok and v.sample is not None]
        if not good:
            raise GalleryError(f"none of the {len(verdicts)} images of {name} is usable; nothing was saved")
        return self.gallery.add_person(
            name, [v.sample for v in good], np.stack([v.embedding for v in good]), self.model, **fields
        )

    def add_to(self, person_id: int, verdicts: list[SampleVerdict]) -> Person:
        good = [v for v in verdicts if v.ok and v.sample is not None]
        if not good:
            raise GalleryError("none of the images is usable; nothing was added")
        return self.gallery.add_samples(person_id, [v.sample for v in good], np.stack([v.embedding for v in good]), self.model)


def _face_fill(img: np.ndarray, box: np.ndarray) -> float:
    """`uniform_fill` of the face's box (clipped to the image)."""
    h, w = img.shape[:2]
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    return uniform_fill(img[y0:y1, x0:x1]) if x1 > x0 and y1 > y0 else 0.0
