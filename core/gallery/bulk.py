"""Bulk enrolment: many people's photos at once (a folder with one sub-folder per person, or a class
list's photos column), each photo through the same quality gates as the wizard.

Each person is saved in their own transaction, so cancelling keeps everyone finished so far. A photo
already stored for that person (same file) is skipped: running the same folder again adds nothing.
The report says who was enrolled with how many usable samples, who needs more photos, and why.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import path_text
from core.gallery.enrol import RECOMMENDED_SAMPLES, Enroller, SampleVerdict
from core.gallery.records import GalleryError, clean_name, rows
from core.gallery.store import Gallery
from core.vision.imageio import IMAGE_SUFFIXES

logger = logging.getLogger(__name__)

MAX_PHOTOS_PER_PERSON = 50  # more is no better for a template, and bounds the work per person
BulkProgress = Callable[[int, int, str], None] | None  # (photos done, photos in all, whose)


def photos_in(path: Path) -> list[Path]:
    """A photo file itself, or a folder's photos (not its sub-folders) in name order. Whatever is not a
    folder is listed (a FIFO or device named like a photo too): the photo check then says what it is.
    GalleryError when the path cannot be looked at (a name too long, a folder that may not be listed)."""
    try:
        if path.is_dir():
            return sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir()),
                          key=lambda p: p.name.casefold())
    except OSError as exc:
        raise GalleryError(f"cannot look for photos at {path_text(path)}: {exc.strerror or exc}") from None
    return [path] if os.path.lexists(path) else []


@dataclass
class EnrolJob:
    """Whose photos: an enrolled person (`person_id`) or someone new (`name`, `external_id`, `groups`)."""
    name: str
    photos: list[Path]
    person_id: int | None = None
    external_id: str | None = None
    groups: tuple[str, ...] = ()
    problem: str = ""  # why the job is skipped (shown in the plan and the report)


@dataclass
class PersonOutcome:
    name: str
    person_id: int | None
    photos: int
    usable: int = 0
    already_stored: int = 0
    rejected: Counter = field(default_factory=Counter)  # reason -> how many photos
    state: str = "not enrolled"  # enrolled, updated, unchanged, not enrolled, skipped, not done (cancelled or failed)
    error: str = ""
    samples: int | None = None  # the person's samples in all afterwards (other photos included)

    @property
    def needs_more(self) -> bool:
        have = self.samples if self.samples is not None else self.usable + self.already_stored
        return self.state not in ("not done", "skipped") and have < RECOMMENDED_SAMPLES[0]

    def describe(self) -> str:
        why = "; ".join(f"{n} × {reason}" for reason, n in self.rejected.most_common())
        have = self.usable + self.already_stored
        text = f"{self.name}: {self.state}, {have} usable sample(s) of {self.photos + self.already_stored} photo(s)"
        if self.samples is not None and self.samples != have:
            text += f" ({self.samples} in all)"
        if self.error:
            text += f" ({self.error})"
        if self.needs_more:
            text += f"; needs more photos (at least {RECOMMENDED_SAMPLES[0]})"
        return text + (f"; rejected: {why}" if why else "")


@dataclass
class BulkReport:
    outcomes: list[PersonOutcome]
    cancelled: bool
    seconds: float
    photos_checked: int

    @property
    def needing_photos(self) -> list[PersonOutcome]:
        return [o for o in self.outcomes if o.needs_more]

    def summary(self) -> str:
        saved = sum(o.state in ("enrolled", "updated") for o in self.outcomes)
        rate = self.photos_checked / self.seconds if self.seconds > 0 else 0.0
        text = (f"{saved} of {len(self.outcomes)} people enrolled or updated, {len(self.needing_photos)} need more "
                f"photos; {self.photos_checked} photos checked in {self.seconds:.1f} s ({rate:.1f}/s)")
        return text + (" — cancelled: the people not reached were not changed" if self.cancelled else "")


def plan_folder(gallery: Gallery, root: str | Path, groups: tuple[str, ...] = ()) -> list[EnrolJob]:
    """One job per sub-folder of `root`: an enrolled person whose External ID, else name (when only
    one person has it), is the folder's name; otherwise someone new named after it."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise GalleryError(f"{root} is not a folder; choose a folder with one sub-folder of photos per person")
    jobs = []
    for folder in sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name.casefold()):
        label = clean_name(folder.name, "a person", required=False)
        if not label:
            continue
        try:
            photos = photos_in(folder)
            problem = "" if photos else f"no photos in {folder}"
        except GalleryError as exc:
            photos, problem = [], str(exc)
        known = gallery.with_external_id(label)
        if known is None:
            named = gallery.named(label)
            known = named[0] if len(named) == 1 else None
            if len(named) > 1:  # adding another would make it worse
                problem = (f"{len(named)} people are called {label}: rename the folder to the External ID "
                           f"of the one meant")
        if known is not None:
            jobs.append(EnrolJob(known.name, photos, person_id=known.id, groups=groups, problem=problem))
        else:
            jobs.append(EnrolJob(label, photos, groups=groups, problem=problem))
    if not jobs:
        raise GalleryError(f"{root} has no sub-folders: put each person's photos in a folder named after them "
                           f"(or their External ID)")
    return jobs


def stored_sources(gallery: Gallery, person_id: int) -> set[str]:
    """The sources of a person's samples: `path_text` of each photo's path (as `Enroller.check_file` gives)."""
    return {r["source"] for r in rows(gallery.db, "SELECT source FROM samples WHERE person_id = ?", (person_id,))}


def run_jobs(enroller: Enroller, jobs: list[EnrolJob], *, progress: BulkProgress = None,
             cancelled: Callable[[], bool] | None = None) -> BulkReport:
    """Check every photo of every job and save each person's usable samples (see the module docstring)."""
    gallery = enroller.gallery
    started = time.monotonic()
    todo = []
    for job in jobs:
        known = stored_sources(gallery, job.person_id) if job.person_id is not None else set()
        fresh = [] if job.problem else [p for p in job.photos if path_text(p) not in known]
        todo.append((job, fresh[:MAX_PHOTOS_PER_PERSON], len(job.photos) - len(fresh) if not job.problem else 0))
    total = sum(len(photos) for _, photos, _ in todo)
    done, outcomes, stopped = 0, [], False
    if progress:
        progress(0, total, "")
    for job, photos, already in todo:
        outcome = PersonOutcome(job.name, job.person_id, len(photos), already_stored=already)
        outcomes.append(outcome)
        if job.problem:
            outcome.state, outcome.error = "skipped", job.problem
            continue
        if stopped or (cancelled and cancelled()):
            stopped, outcome.state = True, "not done"
            continue
        verdicts: list[SampleVerdict] = []
        for photo in photos:
            if cancelled and cancelled():
                break
            verdict = enroller.check_file(photo)
            verdicts.append(verdict)
            if not verdict.ok:
                outcome.rejected[verdict.reason] += 1
            done += 1
            if progress:
                progress(done, total, job.name)
        if len(verdicts) < len(photos):
            stopped, outcome.state = True, "not done"
            continue
        _save(enroller, job, outcome, verdicts)
    return BulkReport(outcomes, stopped, time.monotonic() - started, done)


def _save(enroller: Enroller, job: EnrolJob, outcome: PersonOutcome, verdicts: list[SampleVerdict]) -> None:
    good = [v for v in verdicts if v.ok]
    outcome.usable = len(good)
    try:
        if not good:
            outcome.state = "unchanged" if job.person_id is not None else "not enrolled"
        elif job.person_id is not None:
            enroller.add_to(job.person_id, good)
            outcome.state = "updated"
        else:
            person = enroller.gallery.add_person(job.name, [v.sample for v in good],
                                                 np.stack([v.embedding for v in good]), enroller.model,
                                                 external_id=job.external_id, groups=job.groups)
            outcome.person_id, outcome.state = person.id, "enrolled"
    except GalleryError as exc:  # e.g. the External ID was taken meanwhile: this person only
        outcome.state, outcome.error, outcome.usable = "not done", str(exc), 0
        logger.warning("bulk enrolment of %s failed: %s", job.name, exc)
        return
    if outcome.person_id is not None:
        outcome.samples = enroller.gallery.person(outcome.person_id).n_samples
