"""build-dataset: group a folder of subject folders (or the app's gallery) by subject, drop subjects with
too few usable images, split, and write RUN_DIR/manifest.json (`trainer.manifest`); nothing is copied.

Order: list the images of every subject; hash each file (an image whose bytes
came earlier, under any name, is left out: a copy must never land on the other
side of the split); find each face once (`find_faces`; 112x112 crops are
taken as aligned) and keep its landmarks; drop subjects with fewer than
`min_images` usable images; split "images" (each subject 80/20) or "subjects"
(people held out); check that nothing leaks; write the manifest; emit
`dataset_summary`. Step events count the images looked at (phase "faces").
"""

from __future__ import annotations

import logging
from pathlib import Path

from core.align import ARCFACE_TEMPLATE
from core.errors import ConfigError, ImageReadError
from core.imageio import read_image
from trainer.config import BuildDatasetConfig
from trainer.events import DatasetSummary, Finished, RunStarted, Step
from trainer.faces import HR_SIZE, FaceFinder, is_gallery, list_subjects, open_gallery, split_subjects
from trainer.manifest import (
    MANIFEST_FILENAME, SAMPLE_PREFIX, Entry, Manifest, file_sha256, save_manifest, split_images,
)
from trainer.runner import Run, Throughput

logger = logging.getLogger("trainer.build_dataset")
EXIT_OK, EXIT_STOPPED = 0, 3


def gallery_entries(db_path: str | Path) -> tuple[dict[str, list[Entry]], int]:
    """Subject ("id:name") -> entries of the gallery's stored samples (landmarks from the gallery), and
    how many were byte-identical to an earlier one."""
    db, gallery = open_gallery(db_path)
    seen: set[str] = set()
    duplicates = 0
    by_subject: dict[str, list[Entry]] = {}
    try:
        for person, digests in gallery.sample_digests():
            key = f"{person.id}:{person.name}"
            faces = gallery.sample_faces([sid for sid, _ in digests])
            for (sid, digest), (_, landmarks) in zip(digests, faces, strict=True):
                if digest in seen:
                    duplicates += 1
                    continue
                seen.add(digest)
                by_subject.setdefault(key, []).append(
                    Entry(key, f"{SAMPLE_PREFIX}{sid}", digest, tuple(map(tuple, landmarks.tolist()))))
    finally:
        db.close()
    return by_subject, duplicates


def run(cfg: BuildDatasetConfig, run: Run) -> int:
    source = Path(cfg.data).resolve()
    from_gallery = is_gallery(source)
    subjects = {} if from_gallery else list_subjects(source)
    total = sum(len(v) for v in subjects.values())
    run.emit(RunStarted(job="build-dataset", run_dir=str(run.dir), device="cpu", amp=False, config=cfg.to_dict(),
                        start_step=0, total_steps=total, resumed=False))

    # ---- every image once: its bytes' hash, and its face
    duplicates, no_face, done = 0, 0, 0
    if from_gallery:
        by_subject, duplicates = gallery_entries(source)
    else:
        finder = FaceFinder(device="cpu")
        seen: set[str] = set()
        by_subject = {}
        meter = Throughput(0)
        for name, paths in subjects.items():
            for path in paths:
                if run.stop.is_set():
                    run.emit(Finished(status="stopped", step=done, elapsed_s=round(run.elapsed(), 3),
                                      summary={"manifest": None}))
                    return EXIT_STOPPED
                done += 1
                meter.add(1)
                entry = _image_entry(path, name, source, seen, finder if cfg.find_faces else None)
                if entry == "duplicate":
                    duplicates += 1
                elif entry is None:
                    no_face += 1
                else:
                    by_subject.setdefault(name, []).append(entry)
                if done % cfg.log_every == 0 or done == total:
                    rate, eta = meter.report(done, total)
                    run.emit(Step(step=done, epoch=0, total_steps=total, losses={}, lr=0.0,
                                  samples_per_s=round(rate, 3), eta_s=round(eta, 1), phase="faces"))
        for name in subjects:
            by_subject.setdefault(name, [])

    # ---- drop the subjects with too few images, split, check, write
    dropped = {name: len(v) for name, v in by_subject.items() if len(v) < cfg.min_images}
    kept = {name: v for name, v in by_subject.items() if len(v) >= cfg.min_images}
    for name, count in sorted(dropped.items()):
        logger.info("subject %s dropped: %d usable image(s), fewer than min_images %d", name, count, cfg.min_images)
    needed = 1 if cfg.split == "images" else 2
    if len(kept) < needed:
        raise ConfigError(f"{source}: {len(kept)} subject(s) have at least {cfg.min_images} usable images; a "
                          f"'{cfg.split}' split needs {needed}. Add images, or lower min_images.")
    if cfg.split == "images":
        train, val = split_images(kept, cfg.val_fraction, cfg.seed)
    else:
        train_names, val_names = split_subjects(sorted(kept), cfg.val_fraction, cfg.seed)
        train = [e for n in train_names for e in kept[n]]
        val = [e for n in val_names for e in kept[n]]
    manifest = Manifest(split=cfg.split, source=str(source), seed=cfg.seed, val_fraction=cfg.val_fraction,
                        min_images=cfg.min_images, train=tuple(train), val=tuple(val), dropped=dropped,
                        no_face=no_face, duplicates=duplicates)
    path = save_manifest(manifest, run.dir / MANIFEST_FILENAME)  # refuses a leaky split
    summary = manifest.summary()
    logger.info("manifest %s: %d subjects, %d train / %d val images, %d subjects dropped, %d without a face, "
                "%d duplicates", path, summary["subjects"], summary["train_images"], summary["val_images"],
                len(dropped), no_face, duplicates)
    run.emit(DatasetSummary(manifest=str(path), **{k: v for k, v in summary.items()}))
    run.emit(Finished(status="completed", step=done, elapsed_s=round(run.elapsed(), 3),
                      summary={"manifest": str(path), **summary}))
    return EXIT_OK


def _image_entry(path: Path, subject: str, root: Path, seen: set[str],
                 finder: FaceFinder | None) -> Entry | str | None:
    """The entry of one image file; "duplicate" when its bytes came earlier; None when it cannot be read
    or has no face."""
    try:
        digest = file_sha256(path)
    except OSError as exc:
        logger.warning("cannot read %s: %s", path, exc)
        return None
    if digest in seen:
        logger.info("%s is a copy of an earlier image: left out", path)
        return "duplicate"
    seen.add(digest)
    landmarks = None
    if finder is not None:
        try:
            image = read_image(path)
        except ImageReadError as exc:
            logger.warning("%s", exc)
            return None
        found = ARCFACE_TEMPLATE.array() if image.shape[:2] == (HR_SIZE, HR_SIZE) else finder(image)
        if found is None:
            logger.info("no face found in %s: left out", path)
            return None
        landmarks = tuple((round(float(x), 2), round(float(y), 2)) for x, y in found)
    return Entry(subject, path.relative_to(root).as_posix(), digest, landmarks)
