"""Identification on a folder of subject folders: enrol N images per subject, identify the rest.

Rank-1 is the share of probes whose nearest template is the right person
(threshold ignored). Open-set figures apply the threshold: a probe is
"accepted" when its best score reaches it; unknown_rate is the share of probes
rejected, false_accept_rate the share accepted as the wrong person. A probe or
enrolment image without a detectable face, or that cannot be read, counts as a failure, not as skipped.
Memory stays flat with the data: each image is released as soon as its face is embedded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.storage.db import Database
from core.gallery.enrol import Enroller, QualityPolicy, SampleVerdict
from core.errors import ConfigError, DatasetFolderError, ImageReadError, InputPathError, path_text
from core.gallery.store import Gallery
from core.gallery.faces import ENROL_JITTERS
from core.vision.imageio import IMAGE_SUFFIXES, read_image, return_freed_memory
from core.gallery.matching import TemplateIndex
from core.vision.pipeline import FacePipeline

logger = logging.getLogger(__name__)

# The benchmark measures recognition, not the enrolment gates: accept any single face.
PERMISSIVE = QualityPolicy(min_face_size=0.0, min_sharpness=0.0, max_abs_yaw=10.0)


def subject_images(root: Path) -> dict[str, list[Path]]:
    """Each sub-folder of `root` with images: its name -> its images in natural order. A missing root, or a
    file given as the root, is an InputPathError."""
    root = Path(root)
    if not root.exists():
        raise InputPathError(root, "no such folder", "Give a folder that holds one sub-folder of photos per person.")
    if not root.is_dir():
        raise InputPathError(root, "this is a file, not a folder",
                             "Give a folder that holds one sub-folder of photos per person.")
    subjects = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                        key=_natural_key)
        if images:
            subjects[folder.name] = images
    return subjects


def usable_subjects(root: Path, enroll_per_subject: int) -> dict[str, list[Path]]:
    """The subjects with more than `enroll_per_subject` images; a DatasetFolderError says what to change when
    there are none."""
    root = Path(root)
    subjects = subject_images(root)
    if enroll_per_subject < 1:
        raise ConfigError(f"enrol at least 1 image per subject, not {enroll_per_subject}")
    if not subjects:
        raise DatasetFolderError(
            f"{path_text(root)} has no sub-folders with images ({', '.join(sorted(IMAGE_SUFFIXES))}): evaluate needs "
            f"one sub-folder of photos per person, e.g. {path_text(root / 'Ada' / '1.jpg')}")
    usable = {s: imgs for s, imgs in subjects.items() if len(imgs) > enroll_per_subject}
    if not usable:
        most = max(len(imgs) for imgs in subjects.values())
        raise DatasetFolderError(
            f"no person in {path_text(root)} has more than {enroll_per_subject} images (the most is {most}): each "
            f"needs {enroll_per_subject} to enrol and at least one more to identify; "
            + (f"lower --enroll-per-subject to {most - 1}" if most > 1 else "add photos: at least 2 per person"))
    return usable


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
    usable = usable_subjects(root, enroll_per_subject)
    with Database(":memory:") as db:
        gallery = Gallery(db)
        enroller = Enroller(pipeline, gallery, PERMISSIVE, jitters)
        model = enroller.model
        total = sum(len(v) for v in usable.values())
        done = 0
        if progress:
            progress(done, total)
        enrol_failures = 0
        probes: list[tuple[str, Path]] = []
        person_of: dict[int, str] = {}
        for subject, images in usable.items():
            verdicts = [_largest_face_verdict(enroller, p) for p in images[:enroll_per_subject]]
            return_freed_memory()
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
        correct_rank1 = accepted_right = accepted_wrong = rejected = no_face = unreadable = 0
        for subject, path in probes:
            embedding = _largest_face_embedding(pipeline, path)  # the decoded image is released here
            done += 1
            if progress:
                progress(done, total)
            if embedding is None:
                no_face += 1
                rejected += 1
                continue
            if isinstance(embedding, str):
                unreadable += 1
                rejected += 1
                logger.warning("probe skipped: %s", embedding)
                continue
            match = index.identify(embedding[None], t)[0]
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
        "probes_unreadable": unreadable,
        "enrolment_images_rejected": enrol_failures,
        "model": model.name,
        "enrolment_jitters": jitters,
    }


def _largest_face_embedding(pipeline: FacePipeline, path: Path) -> np.ndarray | str | None:
    """The embedding (float32) of the largest face in a probe photo; None without a face; the reason as text
    when the file cannot be read. Only the embedding outlives the call, never the image."""
    try:
        faces = pipeline.process(read_image(path)).faces
    except ImageReadError as exc:
        return str(exc)
    finally:
        return_freed_memory()
    if not faces:
        return None
    return np.array(max(faces, key=lambda f: f.quality.face_size).embedding, dtype=np.float32)


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
