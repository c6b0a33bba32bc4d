"""The privacy operations (mixed into `Rollcall` like core.service.operations; each that commits reports
one `Changes`): the kept unknown faces (list, delete, enrol one as a new person, retention), erasing a
person everywhere, and the admin PIN."""

from __future__ import annotations

import datetime as _dt
import logging

import cv2
import numpy as np

from core.gallery.enrol import Enroller, SampleVerdict
from core.gallery.store import Gallery, GalleryError, Person
from core.storage import admin_pin
from core.gallery.erasure import Erasure
from core.attendance.unknown_faces import (UnknownFace, check_retention, delete_all_unknown, delete_unknown, purge_older,
                                  unknown_face, unknown_faces)
from core.storage.db import Database

logger = logging.getLogger(__name__)

CROP_MARGIN = 0.3  # the kept crop is the face itself: a border lets the detector find it again


class PrivacyOperations:
    """Mixed into `Rollcall`, which provides the attributes below."""

    gallery: Gallery
    db: Database

    def enroller(self) -> Enroller:  # provided by Operations
        raise NotImplementedError

    def enrol(self, name: str, verdicts: list[SampleVerdict], **fields: str | None) -> Person:  # Operations
        raise NotImplementedError

    def _report(self, **flags: bool) -> None:  # provided by Rollcall
        raise NotImplementedError

    # ------------------------------------------------------------------ unknown faces

    def unknown_faces(self, session_id: int | None = None) -> list[UnknownFace]:
        """The faces nobody matched that were kept, newest first, each with its crop (JPEG)."""
        return unknown_faces(self.db, session_id)

    def delete_unknown(self, sighting_ids: list[int]) -> int:
        deleted = delete_unknown(self.db, sighting_ids)
        self._report(marks=bool(deleted))
        return deleted

    def delete_all_unknown(self) -> int:
        deleted = delete_all_unknown(self.db)
        self._report(marks=bool(deleted))
        return deleted

    def check_unknown(self, sighting_id: int) -> SampleVerdict:
        """The enrolment verdict on a kept face (the same quality gates as any photo; builds the pipeline)."""
        face = unknown_face(self.db, sighting_id)
        image = cv2.imdecode(np.frombuffer(face.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            return SampleVerdict(f"unknown face {sighting_id}", False, "the kept face cannot be decoded")
        pad = int(round(max(image.shape[:2]) * CROP_MARGIN))
        padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128))
        return self.enroller().check(padded, f"unknown face seen {face.seen_at}")

    def enrol_unknown(self, sighting_id: int, name: str, **fields: str | None) -> Person:
        """A new person whose one sample is this kept face (refused, nothing saved, when it fails a
        quality gate); the kept face is then deleted."""
        verdict = self.check_unknown(sighting_id)
        if not verdict.ok:
            raise GalleryError(f"this face cannot be enrolled: {verdict.reason}; nothing was saved")
        person = self.enrol(name, [verdict], **fields)
        deleted = delete_unknown(self.db, [sighting_id])
        self._report(marks=bool(deleted))
        return person

    def apply_retention(self, days: int, now: _dt.datetime | None = None) -> int:
        """Delete the kept faces older than `days` (0: keep them until deleted); logged, how many."""
        if check_retention(days) == 0:
            return 0
        purged = purge_older(self.db, days, now)
        logger.info("unknown-face retention (%d days): %d kept face(s) purged", days, purged)
        self._report(marks=bool(purged))
        return purged

    # ------------------------------------------------------------------ people

    def erase_person(self, person_id: int, *, erase_marks: bool = False, operator: str = "") -> Erasure:
        """Erase a person everywhere (core.gallery.erasure); audited without their name."""
        erasure = self.gallery.delete_person(person_id, erase_history=erase_marks, operator=operator)
        logger.info("person %d erased: %d sample(s), %d evidence crop(s), %d mark(s)", person_id,
                    erasure.samples, erasure.evidence, erasure.marks)
        self._report(people=True, samples=True, marks=True)
        return erasure

    # ------------------------------------------------------------------ admin PIN

    @property
    def has_admin_pin(self) -> bool:
        return admin_pin.has_pin(self.db)

    def admin_pin_ok(self, entered: str) -> bool:
        """True when no admin PIN is set, else whether `entered` is it."""
        return admin_pin.pin_ok(self.db, entered)

    def set_admin_pin(self, new: str | None, current: str = "") -> None:
        """Set, change or (`new` empty) clear the admin PIN; once one is set, `current` must be it."""
        admin_pin.set_pin(self.db, new, current)
        logger.info("admin PIN %s", "set" if new else "cleared")
        self._report(settings=True)
