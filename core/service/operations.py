"""The operations on people, attendance and models: each one the single place the CLI and the app go
through. They delegate to core (Gallery, Attendance, Enroller, model_lifecycle, calibration), and each
that commits reports one `Changes` after its transaction committed; one that fails reports nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from core.gallery import lifecycle as model_lifecycle
from core.storage.backup import backup_database
from core.storage.db import Database
from core.attendance.marks import Attendance, Mark, Session
from core.gallery.calibration import Calibration, calibrate
from core.gallery.enrol import Enroller, QualityPolicy, SampleVerdict
from core.gallery.policy import (ThresholdDecision, family_default, gallery_decision, read_sessions,
                                 site_pairs_needed, write_sessions)
from core.gallery.records import rows
from core.errors import RollcallError
from core.gallery.store import Gallery, GalleryError, ModelRecord, NotFoundError, Person
from core.vision.models.base import Embedder
from core.vision.models.loading import load_embedder
from core.vision.models.sanity import probe_embedder
from core.vision.pipeline import FacePipeline, resolve_device, with_embedder
from core.service.engine import Engine

Progress = Callable[[int, int], None] | None
Cancelled = Callable[[], bool] | None


class CalibrationError(RollcallError):
    """The gallery cannot be calibrated (no active model, too few people or samples)."""


LEFT_OPEN_KEY = "sessions_left_open"  # ids of the sessions the operator chose to leave open at closing


class Operations:
    """Mixed into `Rollcall`, which provides the attributes below."""

    gallery: Gallery
    attendance: Attendance
    engine: Engine
    db: Database
    _decisions: dict  # route -> (the gallery state it was made for, ThresholdDecision)

    def pipeline(self) -> FacePipeline:  # provided by Rollcall
        raise NotImplementedError

    def _report(self, **flags: bool) -> None:  # provided by Rollcall
        raise NotImplementedError

    # ------------------------------------------------------------------ people

    def enroller(self, policy: QualityPolicy | None = None) -> Enroller:
        """Checks photos or frames for enrolment with the active pipeline (builds it when needed)."""
        return Enroller(self.pipeline(), self.gallery, policy)

    def enrol(self, name: str, verdicts: list[SampleVerdict], **fields: str | None) -> Person:
        """A new person from the accepted verdicts, all or nothing."""
        person = self.enroller().enrol(name, verdicts, **fields)
        self._report(people=True, samples=True)
        return person

    def add_samples(self, person_id: int, verdicts: list[SampleVerdict]) -> Person:
        person = self.enroller().add_to(person_id, verdicts)
        self._report(samples=True)
        return person

    def remove_sample(self, sample_id: int) -> None:
        self.gallery.remove_sample(sample_id)
        self._report(samples=True)

    def update_person(self, person_id: int, **fields: str | None) -> Person:
        """Rename or edit a person (name, external_id, group_name, notes). A new name is written into their
        attendance marks too, so a rename also reports marks."""
        person = self.gallery.update_person(person_id, **fields)
        self._report(people=True, marks="name" in fields)
        return person

    def delete_person(self, person_id: int, *, erase_history: bool = False, operator: str = "") -> None:
        """Erase the person everywhere (`core.gallery.erasure`: samples, evidence crops, and their marks with
        `erase_history`), audited without their name."""
        self.erase_person(person_id, erase_marks=erase_history, operator=operator)  # core.service.privacy_ops

    def find_person(self, ref: str) -> Person:
        """A person by id (digits) or by a name only one person has."""
        if ref.isdigit():
            return self.gallery.person(int(ref))
        found = self.gallery.find_people(ref)
        if not found:
            raise NotFoundError(f"nobody called '{ref}' is enrolled")
        if len(found) > 1:
            ids = ", ".join(str(p.id) for p in found)
            raise GalleryError(f"several people are called '{ref}' (ids {ids}); use the id")
        return found[0]

    # ------------------------------------------------------------------ sessions and marks

    def stop_session(self, session_id: int) -> Session:
        was_open = self.attendance.session(session_id).open
        session = self.attendance.stop_session(session_id)
        if was_open:
            self._report(sessions=True)
        return session

    def open_sessions(self) -> list[Session]:
        return [s for s in self.attendance.sessions() if s.open]

    def leave_sessions_open(self, sessions: list[Session]) -> None:
        """The operator left these sessions open on purpose (an empty list forgets it): the next
        start does not offer them as what a crash left open."""
        value = json.dumps(sorted(s.id for s in sessions)) if sessions else None
        with self.db.transaction():
            self.db.set_setting(LEFT_OPEN_KEY, value)

    def sessions_left_by_a_crash(self) -> list[Session]:
        """Open sessions that nobody chose to leave open when the app last closed."""
        try:
            kept = set(json.loads(self.db.get_setting(LEFT_OPEN_KEY) or "[]"))
        except ValueError:
            kept = set()
        return [s for s in self.open_sessions() if s.id not in kept]

    def find_session(self, name: str) -> Session:
        session = self.attendance.find_session(name)
        if session is None:
            raise NotFoundError(f"no session called '{name}' (rollcall session list)")
        return session

    def manual_mark(self, session_id: int, person_id: int, *, operator: str, reason: str) -> Mark:
        """Mark a person present by hand; the operator and the reason are required and audited."""
        person = self.gallery.person(person_id)
        mark = self.attendance.manual_mark(session_id, person.id, person.name, operator=operator, reason=reason)
        self._report(marks=True)
        return mark

    def unmark(self, session_id: int, person_id: int, *, operator: str, reason: str) -> None:
        """Remove a mark; the operator and the reason are required and audited."""
        self.attendance.unmark(session_id, person_id, operator=operator, reason=reason)
        self._report(marks=True)

    def purge_unknown(self, retention_days: float) -> int:
        """Delete kept unknown faces older than `retention_days`; how many were deleted."""
        purged = self.attendance.purge_unknown(retention_days)
        if purged:
            self._report(marks=True)
        return purged

    # ------------------------------------------------------------------ models

    def activate_model(self, model: str | Embedder, *, progress: Progress = None,
                       cancelled: Cancelled = None) -> ModelRecord:
        """Make a model (a file, "dlib", or a loaded embedder) the active one, re-embedding the gallery.
        DamagedModelError (nothing changes) if it tells no faces apart (sanity.probe_embedder)."""
        embedder = (load_embedder(model, device=resolve_device(self.engine.settings.device))
                    if isinstance(model, str) else model)
        probe_embedder(embedder)
        record = self.gallery.activate_model(embedder, progress=progress, cancelled=cancelled)
        self._adopt(embedder)
        return record

    def promote(self, embedder: Embedder, *, progress: Progress = None, cancelled: Cancelled = None) -> ModelRecord:
        """Make a candidate the active model (all templates switch at once); roll_back returns."""
        backup = (lambda: backup_database(self.db, "before-promotion")) if self.db.path is not None else None
        record = model_lifecycle.promote(self.gallery, embedder, progress=progress, cancelled=cancelled,
                                         before=backup)  # a blank model is refused before the backup
        self._adopt(embedder)
        return record

    def roll_back(self, *, progress: Progress = None, cancelled: Cancelled = None) -> ModelRecord:
        """Return to the model that was active before the current one."""
        device = str(resolve_device(self.engine.settings.device))
        record, embedder = model_lifecycle.roll_back(self.gallery, device=device, progress=progress,
                                                     cancelled=cancelled)
        self._adopt(embedder)
        return record

    def _adopt(self, embedder: Embedder, pipeline: FacePipeline | None = None,
               problems: list[str] | None = None) -> None:
        current = self.engine.pipeline
        if pipeline is None and current is not None:
            pipeline = with_embedder(current, embedder)
        kept = tuple(problems) if problems is not None else self.engine.problems
        self.engine.install(pipeline, kept if pipeline is not None else ())  # None: rebuilt on next use
        self._report(model=True, engine=True)

    def set_threshold(self, model_id: int, threshold: float, origin: str = "manual") -> ModelRecord:
        record = self.gallery.set_threshold(model_id, threshold, origin=origin)
        self._report(model=True)
        return record

    # ------------------------------------------------------------------ threshold policy

    def threshold_decision(self, route: str = "direct") -> ThresholdDecision | None:
        """The threshold and margin in force for the active model (None without one), and why
        (core.gallery.policy). Recomputed when the people, their samples, the model, its threshold or
        the policy's setting changed since the last call."""
        model = self.gallery.active_model()
        if model is None:
            return None
        state = rows(self.db, "SELECT (SELECT COUNT(*) FROM samples) AS n, (SELECT MAX(id) FROM samples) AS last,"
                              " (SELECT COUNT(*) FROM templates WHERE model_id = ?) AS t", (model.id,))[0]
        key = (route, model, tuple(state.values()), read_sessions(self.db))
        cached = self._decisions.get(route)
        if cached is None or cached[0] != key:
            cached = self._decisions[route] = (key, gallery_decision(self.gallery, model, route=route))
        return cached[1]

    @property
    def sessions_per_false_mark(self) -> int:
        """The operator's choice: a stranger is marked in at most 1 of this many sessions."""
        return read_sessions(self.db)

    def set_sessions_per_false_mark(self, sessions: int) -> ThresholdDecision | None:
        """Store the operator's choice (one of core.gallery.policy.SESSIONS_CHOICES); the threshold
        follows (reported as a model change, so running recognisers reload)."""
        write_sessions(self.db, sessions)
        self._report(model=True)
        return self.threshold_decision()

    def use_policy_threshold(self) -> ModelRecord:
        """Drop a threshold set by hand (or an old calibrated one) on the active model: the policy decides
        again, from the model's default (core.gallery.policy.family_default) as its base."""
        model = self.gallery.active_model()
        if model is None:
            raise CalibrationError("no active model yet: enrol people first")
        return self.set_threshold(model.id, family_default(model), origin="default")

    def site_pairs_needed(self) -> int | None:
        """Different-person pairs the gallery's own samples need before they may lower the policy's
        threshold at its current per-comparison FAR (None without an active model)."""
        decision = self.threshold_decision()
        return site_pairs_needed(decision.per_comparison_far) if decision is not None else None

    def calibrate(self, target_far: float | None = None, *,
                  apply: bool = False) -> tuple[ModelRecord, Calibration]:
        """FAR/FRR of the gallery's own samples under the active model and the threshold for
        `target_far` (default: the policy's per-comparison FAR). `apply` stores it as a threshold set
        by hand (origin "manual"): it overrides the policy until `use_policy_threshold`."""
        model = self.gallery.active_model()
        if model is None:
            raise CalibrationError("no active model yet: enrol people first")
        if target_far is None:
            target_far = self.threshold_decision().per_comparison_far
        if not 0.0 < target_far < 1.0:
            raise CalibrationError(f"a target false-accept rate is a fraction between 0 and 1 (e.g. 0.001), "
                                   f"got {target_far}")
        labels, embeddings = self.gallery.sample_embeddings(model.id)
        try:
            result = calibrate(labels, embeddings, target_far)
        except ValueError as exc:
            raise CalibrationError(f"cannot calibrate {model.name}: {exc}") from None
        if apply:
            model = self.set_threshold(model.id, result.threshold, origin="manual")
        return model, result
