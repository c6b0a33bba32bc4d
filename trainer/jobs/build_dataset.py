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
from collections.abc import Callable
from pathlib import Path

from core.vision.align import ARCFACE_TEMPLATE
from core.digest import file_sha256
from core.errors import ConfigError, ImageReadError
from core.vision.imageio import read_image
from trainer.config import BuildDatasetConfig
from trainer.events import DatasetSummary, Finished, RunStarted, Step
from trainer.exit_codes import EXIT_OK, EXIT_STOPPED
from trainer.faces import HR_SIZE, FaceFinder, is_gallery, list_subjects, open_gallery, split_subjects
from trainer.manifest import (
    MANIFEST_FILENAME, SAMPLE_PREFIX, Entry, Manifest, check_no_leak, save_manifest, split_images,
)
from trainer.runner import Run, Throughput

logger = logging.getLogger("trainer.build_dataset")


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
            for sid, digest, landmarks in digests:
                if digest in seen:
                    duplicates += 1
                    continue
                seen.add(digest)
                by_subject.setdefault(key, []).append(
                    Entry(key, f"{SAMPLE_PREFIX}{sid}", digest, tuple(map(tuple, landmarks.tolist()))))
    finally:
        db.close()
    return by_subject, duplicates


class BuildStopped(Exception):
    """A stop was requested while the images were being looked at."""


ImageProgress = Callable[[int, int], None]  # (images looked at, images in all)


def build_manifest(cfg: BuildDatasetConfig, progress: ImageProgress | None = None,
                   should_stop: Callable[[], bool] | None = None) -> Manifest:
    """The manifest `cfg` describes (not written): every image hashed and its face found once, small
    subjects dropped, split, checked for leaks. BuildStopped when `should_stop()` says so."""
    source = Path(cfg.data).resolve()
    duplicates, no_face = 0, 0
    if is_gallery(source):
        by_subject, duplicates = gallery_entries(source)
    else:
        subjects = list_subjects(source)
        total = sum(len(v) for v in subjects.values())
        finder = FaceFinder(device="cpu") if cfg.find_faces else None
        seen: set[str] = set()
        by_subject = {name: [] for name in subjects}
        done = 0
        for name, paths in subjects.items():
            for path in paths:
                if should_stop is not None and should_stop():
                    raise BuildStopped(done)
                entry = _image_entry(path, name, source, seen, finder)
                if entry == "duplicate":
                    duplicates += 1
                elif entry is None:
                    no_face += 1
                else:
                    by_subject[name].append(entry)
                done += 1
                if progress is not None:
                    progress(done, total)

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
    check_no_leak(manifest, f"the split of {source}")
    return manifest


def run(cfg: BuildDatasetConfig, run: Run) -> int:
    source = Path(cfg.data).resolve()
    total = 0 if is_gallery(source) else sum(len(v) for v in list_subjects(source).values())
    run.emit(RunStarted(job="build-dataset", run_dir=str(run.dir), device="cpu", amp=False, config=cfg.to_dict(),
                        start_step=0, total_steps=total, resumed=False))
    meter = Throughput(0)
    looked_at = 0

    def progress(done: int, total: int) -> None:
        nonlocal looked_at
        looked_at = done
        meter.add(1)
        if done % cfg.log_every == 0 or done == total:
            rate, eta = meter.report(done, total)
            run.emit(Step(step=done, epoch=0, total_steps=total, losses={}, lr=0.0,
                          samples_per_s=round(rate, 3), eta_s=round(eta, 1), phase="faces"))

    try:
        manifest = build_manifest(cfg, progress, run.stop.is_set)
    except BuildStopped:
        run.emit(Finished(status="stopped", step=looked_at, elapsed_s=round(run.elapsed(), 3),
                          summary={"manifest": None}))
        return EXIT_STOPPED
    path = save_manifest(manifest, run.dir / MANIFEST_FILENAME)
    summary = manifest.summary()
    logger.info("manifest %s: %d subjects, %d train / %d val images, %d subjects dropped, %d without a face, "
                "%d duplicates", path, summary["subjects"], summary["train_images"], summary["val_images"],
                len(manifest.dropped), manifest.no_face, manifest.duplicates)
    run.emit(DatasetSummary(manifest=str(path), **summary))
    run.emit(Finished(status="completed", step=looked_at, elapsed_s=round(run.elapsed(), 3),
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
