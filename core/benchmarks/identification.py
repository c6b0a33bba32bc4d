"""Identification on a folder of subject folders: enrol N images per subject, identify the rest.

Rank-1 is the share of probes whose nearest template is the right person
(threshold ignored). Open-set figures apply the threshold: a probe is
"accepted" when its best score reaches it; unknown_rate is the share of probes
rejected, false_accept_rate the share accepted as the wrong person. A probe or
enrolment image without a detectable face counts as a failure, not as skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path


from core.storage.db import Database
from core.gallery.enrol import Enroller, QualityPolicy, SampleVerdict
from core.errors import ImageReadError
from core.gallery.store import Gallery
from core.gallery.faces import ENROL_JITTERS
from core.vision.imageio import IMAGE_SUFFIXES, read_image
from core.gallery.matching import TemplateIndex
from core.vision.pipeline import FacePipeline

logger = logging.getLogger(__name__)

# The benchmark measures recognition, not the enrolment gates: accept any single face.
PERMISSIVE = QualityPolicy(min_face_size=0.0, min_sharpness=0.0, max_abs_yaw=10.0)


def subject_images(root: Path) -> dict[str, list[Path]]:
    subjects = {}
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        images = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key)
        if images:
            subjects[folder.name] = images
    return subjects


def _natural_key(path: Path) -> tuple:
    stem = path.stem
    return (int(stem), "") if stem.isdigit() else (float("inf"), stem)


def evaluate_folder(
    root: str | Path,
    pipeline: FacePipeline,
    enroll_per_subject: int,
    threshold: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    jitters: int = ENROL_JITTERS,
) -> dict:
    root = Path(root)
    subjects = subject_images(root)
    if not subjects:
        raise ValueError(f"{root} has no subject folders with images")
    usable = {s: imgs for s, imgs in subjects.items() if len(imgs) > enroll_per_subject}
    if not usable:
        raise ValueError(f"no subject in {root} has more than {enroll_per_subject} images")
    with Database(":memory:") as db:
        gallery = Gallery(db)
        enroller = Enroller(pipeline, gallery, PERMISSIVE, jitters)
        model = enroller.model
        total = sum(len(v) for v in usable.values())
        done = 0
        enrol_failures = 0
        probes: list[tuple[str, Path]] = []
        person_of: dict[int, str] = {}
        for subject, images in usable.items():
            verdicts = [_largest_face_verdict(enroller, p) for p in images[:enroll_per_subject]]
            enrol_failures += sum(not v.ok for v in verdicts)
            if any(v.ok for v in verdicts):
                person = enroller.enrol(subject, verdicts)
                person_of[person.id] = subject
            probes += [(subject, p) for p in images[enroll_per_subject:]]
            done += enroll_per_subject
            if progress:
                progress(done, total)
        index = TemplateIndex(*gallery.templates(model.id))
        t = model.threshold if threshold is None else float(threshold)
        correct_rank1 = accepted_right = accepted_wrong = rejected = no_face = 0
        for subject, path in probes:
            faces = pipeline.process(read_image(path)).faces
            done += 1
            if progress:
                progress(done, total)
            if not faces:
                no_face += 1
                rejected += 1
                continue
            face = max(faces, key=lambda f: f.quality.face_size)
            match = index.identify(face.embedding[None], t)[0]
            nearest = person_of.get(match.best_person_id) if match.best_person_id is not None else None
            correct_rank1 += nearest == subject
            if match.known:
                if nearest == subject:
                    accepted_right += 1
                else:
                    accepted_wrong += 1
            else:
                rejected += 1
    n = len(probes)
    return {
        "dataset": str(root),
        "subjects": len(usable),
        "enroll_per_subject": enroll_per_subject,
        "probes": n,
        "rank1": round(correct_rank1 / n, 4) if n else 0.0,
        "threshold": round(t, 4),
        "open_set_accuracy": round(accepted_right / n, 4) if n else 0.0,
        "unknown_rate": round(rejected / n, 4) if n else 0.0,
        "false_accept_rate": round(accepted_wrong / n, 4) if n else 0.0,
        "probes_without_face": no_face,
        "enrolment_images_rejected": enrol_failures,
        "model": model.name,
        "enrolment_jitters": jitters,
    }


def _largest_face_verdict(enroller: Enroller, path: Path) -> SampleVerdict:
    """The enrolment verdict for a photo; with several similar faces, the largest is taken."""
    try:
        image = read_image(path)
    except ImageReadError as exc:
        return SampleVerdict(str(path), False, str(exc))
    verdict = enroller.check(image, str(path))
    if not verdict.ok and len(verdict.detections) > 1:
        largest = max(range(len(verdict.detections)), key=lambda i: verdict.detections[i].width)
        verdict = enroller.check(image, str(path), face_index=largest)
    return verdict
