"""The open-set benchmark's protocol: enrolled people, strangers, and sessions marked by Rollcall's vote.

Attendance must never mark an absent person present, and most faces a camera
sees at a site belong to nobody enrolled. So, from a set of people with photos:
- a seeded split enrols a fraction of the people (those with more photos than
  the enrolment takes), each with `enroll_per_subject` photos, through
  Rollcall's own enrolment (`core.gallery.enrol.Enroller`, in-memory gallery);
  everyone else is a stranger; every other photo is a probe;
- photo level: `photo_tar` (enrolled probes accepted as themselves) and
  `photo_far` (stranger probes accepted as anyone);
- sessions: 5 probe photos of one person seen in a row as one face track, each
  recognised by `TemplateIndex.identify(threshold, margin)` and fed to the
  live loop's K-of-N vote (`core.attendance.tracking.cast_vote`, `VotePolicy`
  defaults); a photo without a face is a frame where the face is not seen.
  `enrolled_mark_rate`, `wrong_person_rate` and `stranger_false_mark_rate`
  are per session.
The threshold comes from a pluggable source `(enrolled_count, target) ->
(threshold, margin)`: Rollcall's policy or the model's default, never the
benchmark's own scores. Evaluation only: choose nothing from its results.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.attendance.tracking import Track, VotePolicy, cast_vote
from core.benchmarks.identification import PERMISSIVE, _largest_face_verdict
from core.errors import BenchmarkDataError
from core.gallery.enrol import Enroller
from core.gallery.faces import ENROL_JITTERS
from core.gallery.policy import DEFAULT_SESSIONS, decide_threshold, table_for
from core.gallery.matching import Match, TemplateIndex
from core.gallery.store import Gallery
from core.storage.db import Database
from core.vision.pipeline import FacePipeline

logger = logging.getLogger(__name__)

ThresholdSource = Callable[[int, float | None], tuple[float, float]]  # (enrolled, target) -> (threshold, margin)
TARGETS = {"1e-2": 1e-2, "1e-3": 1e-3, "1e-4": 1e-4}  # per-session false-mark rates
SESSION_LENGTH = 5
SESSIONS_PER_PERSON = 10
FRAME_GAP_S = 0.2  # between the photos of a session, well inside the vote's window
DEFAULT_SIZES = (10, 25, 50, 100, 200)
MIN_STRANGERS = 20  # the scale curve keeps at least this many strangers (when the data has them)


def model_default_source(threshold: float) -> ThresholdSource:
    """The model's default threshold and no margin, whatever the gallery size and target."""
    return lambda enrolled_count, target: (float(threshold), 0.0)


def policy_threshold(model: str, enrolled_count: int, target: float | None) -> tuple[float, float]:
    """(threshold, margin) from Rollcall's policy (core.gallery.policy) for a gallery of `enrolled_count`
    people and a per-session false-mark `target` (None: the policy's default); `model` is the embedder's
    identity, whose impostor table the policy reads (a model without one uses its default threshold)."""
    sessions = DEFAULT_SESSIONS if target is None else int(round(1.0 / target))
    decision = decide_threshold(table_for(model), enrolled_count, sessions, model_default=None)
    return decision.threshold, decision.margin


def policy_source(model: str) -> ThresholdSource:
    return lambda enrolled_count, target: policy_threshold(model, enrolled_count, target)


@dataclass(frozen=True)
class Split:
    enrolled: dict[str, list[str]]  # person -> their enrolment photos
    probes: dict[str, list[str]]  # person -> their probe photos (enrolled people and strangers)
    strangers: list[str]

    @property
    def people(self) -> list[str]:
        return sorted(set(self.enrolled) | set(self.strangers))


def split_people(photos: dict[str, list[str]], fraction: float, enroll_per_subject: int, seed: int) -> Split:
    """Enrol round(fraction x people) of those with more than `enroll_per_subject` photos (seeded), each
    with that many of their photos; everyone else is a stranger. Every photo not enrolled is a probe."""
    if not 0.0 < fraction < 1.0:
        raise BenchmarkDataError(f"the enrolled fraction must be between 0 and 1 (exclusive), got {fraction}")
    if enroll_per_subject < 1:
        raise BenchmarkDataError(f"enrol at least 1 photo per person, got {enroll_per_subject}")
    people = sorted(p for p, names in photos.items() if names)
    candidates = [p for p in people if len(photos[p]) > enroll_per_subject]
    wanted = round(fraction * len(people))
    if wanted < 1 or not candidates:
        raise BenchmarkDataError(f"cannot enrol anyone: {len(people)} people, {len(candidates)} with more than "
                                 f"{enroll_per_subject} photos; use more data or fewer enrolment photos")
    rng = np.random.default_rng(seed)
    chosen = [candidates[i] for i in rng.permutation(len(candidates))[: min(wanted, len(candidates))]]
    enrolled, probes = {}, {}
    for person in sorted(chosen):
        names = sorted(photos[person])
        pick = set(rng.choice(len(names), enroll_per_subject, replace=False).tolist())
        enrolled[person] = [n for i, n in enumerate(names) if i in pick]
        probes[person] = [n for i, n in enumerate(names) if i not in pick]
    strangers = [p for p in people if p not in enrolled]
    for person in strangers:
        probes[person] = sorted(photos[person])
    return Split(enrolled, probes, strangers)


@dataclass(frozen=True)
class Session:
    person: str
    photos: tuple[str, ...]
    repeats: bool  # drawn with replacement (the person has fewer probe photos than a session)


def draw_sessions(probes: dict[str, list[str]], per_person: int = SESSIONS_PER_PERSON, seed: int = 0,
                  length: int = SESSION_LENGTH) -> list[Session]:
    """`per_person` sessions of `length` probe photos for each person with any (seeded; with replacement
    only when they have fewer than `length`)."""
    rng = np.random.default_rng([int(seed), 1])
    sessions = []
    for person in sorted(probes):
        names = probes[person]
        if not names:
            continue
        repeats = len(names) < length
        for _ in range(per_person):
            idx = rng.choice(len(names), length, replace=repeats)
            sessions.append(Session(person, tuple(names[i] for i in idx), repeats))
    return sessions


def vote_session(frames: Sequence[Match | None], policy: VotePolicy | None = None,
                 gap_s: float = FRAME_GAP_S) -> int | None:
    """The person one face track marks from its frames' recognitions (None: face not seen in that
    frame, no vote), by the live loop's vote; None when nobody is marked."""
    policy = policy or VotePolicy()
    track = Track(0, np.zeros(4, np.float32), 0.0)
    for i, match in enumerate(frames):
        if match is not None:
            cast_vote(track, match.person_id, match.score, i * gap_s, policy)
    return track.decided


@dataclass
class EnrolledGallery:
    """Everyone enrolled in one in-memory gallery; subsets of it are the galleries evaluated."""

    person_ids: np.ndarray
    names: list[str]
    matrix: np.ndarray
    subject_of: dict[int, str]
    model_name: str
    model_threshold: float
    model_identity: str  # the embedder's identity: the key of its impostor table
    rejected_photos: int  # enrolment photos the enrolment refused (no face, unreadable)
    not_enrolled: list[str]  # people none of whose enrolment photos was usable

    def index(self, people: Iterable[str] | None = None) -> TemplateIndex:
        if people is None:
            return TemplateIndex(self.person_ids, self.names, self.matrix)
        wanted = set(people)
        keep = [i for i, pid in enumerate(self.person_ids) if self.subject_of[int(pid)] in wanted]
        return TemplateIndex(self.person_ids[keep], [self.names[i] for i in keep], self.matrix[keep])


def enrol_people(pipeline: FacePipeline, root: Path, enrolment: dict[str, list[str]],
                 jitters: int = ENROL_JITTERS, cache=None) -> EnrolledGallery:
    """Enrol each person from their photos with Rollcall's enrolment (largest face of each photo);
    `cache` (`openset_enrol_cache.VerdictCache`) reuses photos' earlier verdicts."""
    with Database(":memory:") as db:
        gallery = Gallery(db)
        enroller = Enroller(pipeline, gallery, PERMISSIVE, jitters)
        subject_of, rejected, failed = {}, 0, []
        for i, (person, names) in enumerate(sorted(enrolment.items())):
            verdicts = [cache.verdict(enroller, Path(root), n) if cache is not None
                        else _largest_face_verdict(enroller, Path(root) / n) for n in names]
            rejected += sum(not v.ok for v in verdicts)
            if any(v.ok for v in verdicts):
                subject_of[enroller.enrol(person, verdicts).id] = person
            else:
                failed.append(person)
            if (i + 1) % 50 == 0:
                logger.info("enrolled %d/%d people", i + 1, len(enrolment))
        if cache is not None:
            cache.save()
        ids, names, matrix = gallery.templates(enroller.model.id)
        model = enroller.model
    return EnrolledGallery(ids, names, matrix.copy(), subject_of, model.name, float(model.threshold),
                           model.file_hash, rejected, failed)


def photo_matches(index: TemplateIndex, embeddings: dict[str, np.ndarray | None], names: Iterable[str],
                  threshold: float, margin: float) -> dict[str, Match | None]:
    """Each photo's recognition against the gallery (None: no face found), in one batch."""
    names = sorted(set(names))
    seen = [n for n in names if embeddings.get(n) is not None]
    out: dict[str, Match | None] = {n: None for n in names}
    if seen and len(index):
        out.update(zip(seen, index.identify(np.stack([embeddings[n] for n in seen]), threshold, margin)))
    elif seen:
        out.update({n: Match(None, None, -1.0, -1.0, None) for n in seen})
    return out


def evaluate(index: TemplateIndex, subject_of: dict[int, str], enrolled: set[str], probes: dict[str, list[str]],
             sessions: list[Session], embeddings: dict[str, np.ndarray | None], threshold: float,
             margin: float = 0.0, policy: VotePolicy | None = None) -> dict:
    """Photo- and session-level figures of one gallery at one (threshold, margin)."""
    names = {n for photos in probes.values() for n in photos} | {n for s in sessions for n in s.photos}
    matches = photo_matches(index, embeddings, names, threshold, margin)

    def who(pid: int | None) -> str | None:
        return None if pid is None else subject_of.get(int(pid))

    c = dict.fromkeys(("enrolled_probes", "accepted_right", "accepted_wrong", "stranger_probes",
                       "stranger_accepted", "no_face", "enrolled_sessions", "marked_right", "marked_wrong",
                       "stranger_sessions", "stranger_marked", "stranger_sessions_distinct",
                       "stranger_marked_distinct"), 0)
    for person, photos in probes.items():
        for n in photos:
            m = matches[n]
            c["no_face"] += m is None
            got = who(m.person_id) if m is not None else None
            if person in enrolled:
                c["enrolled_probes"] += 1
                c["accepted_right"] += got == person
                c["accepted_wrong"] += got is not None and got != person
            else:
                c["stranger_probes"] += 1
                c["stranger_accepted"] += got is not None
    for s in sessions:
        got = who(vote_session([matches[n] for n in s.photos], policy))
        if s.person in enrolled:
            c["enrolled_sessions"] += 1
            c["marked_right"] += got == s.person
            c["marked_wrong"] += got is not None and got != s.person
        else:
            c["stranger_sessions"] += 1
            c["stranger_marked"] += got is not None
            if not s.repeats:
                c["stranger_sessions_distinct"] += 1
                c["stranger_marked_distinct"] += got is not None
    probes_n = c["enrolled_probes"] + c["stranger_probes"]
    return {
        "enrolled_mark_rate": _rate(c["marked_right"], c["enrolled_sessions"]),
        "stranger_false_mark_rate": _rate(c["stranger_marked"], c["stranger_sessions"]),
        "stranger_false_mark_upper95": _rate(_wilson_upper(c["stranger_marked"], c["stranger_sessions"]), 1),
        # strangers with at least 5 probe photos only: no photo seen twice in a session
        "stranger_false_mark_rate_distinct": _rate(c["stranger_marked_distinct"], c["stranger_sessions_distinct"]),
        "wrong_person_rate": _rate(c["marked_wrong"], c["enrolled_sessions"]),
        "photo_tar": _rate(c["accepted_right"], c["enrolled_probes"]),
        "photo_far": _rate(c["stranger_accepted"], c["stranger_probes"]),
        "photo_wrong_person_rate": _rate(c["accepted_wrong"], c["enrolled_probes"]),
        "threshold": round(float(threshold), 6),
        "margin": round(float(margin), 6),
        "gallery_size": len(index),
        "no_face": {"count": c["no_face"], "rate": _rate(c["no_face"], probes_n), "of_probes": probes_n},
        "counts": c,
    }


def _rate(part: float, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _wilson_upper(k: int, n: int, z: float = 1.96) -> float:
    """Upper end of the 95 % Wilson interval of k/n (sessions of one person are not independent: read it
    as a floor on the uncertainty)."""
    if n == 0:
        return 1.0
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


def curve_sizes(total_people: int, requested: Sequence[int] = DEFAULT_SIZES,
                min_strangers: int = MIN_STRANGERS) -> list[int]:
    """Gallery sizes of the scale curve: those requested that leave `min_strangers` strangers, plus that
    cap itself when it falls short of the largest size requested."""
    cap = total_people - min_strangers
    sizes = sorted({int(s) for s in requested if 0 < int(s) <= cap})
    if cap > 0 and cap < max(requested) and cap not in sizes:
        sizes.append(cap)
    if not sizes:
        raise BenchmarkDataError(f"{total_people} people are too few for a scale curve that keeps "
                                 f"{min_strangers} strangers; use more data")
    return sizes


@dataclass(frozen=True)
class ScalePlan:
    order: list[str]  # gallery members, enrolled people first, then distractors: size g is order[:g]
    strangers: list[str]  # the strangers of the curve (never in any gallery)
    distractors: dict[str, list[str]]  # distractor -> enrolment photos
    sizes: list[int]


def scale_plan(split: Split, photos: dict[str, list[str]], sizes: list[int], seed: int,
               enroll_per_subject: int) -> ScalePlan:
    """Pad the split's enrolled people with strangers turned distractors (enrolled, never probed),
    keeping the rest as the curve's strangers. Seeded; galleries are nested."""
    rng = np.random.default_rng([int(seed), 2])
    enrolled = [sorted(split.enrolled)[i] for i in rng.permutation(len(split.enrolled))]
    pool = [split.strangers[i] for i in rng.permutation(len(split.strangers))]
    total = len(enrolled) + len(pool)
    keep = min(len(pool), total - max(sizes))
    strangers, padding = sorted(pool[:keep]), pool[keep:]
    distractors = {}
    for person in padding:
        names = sorted(photos[person])
        take = min(enroll_per_subject, len(names))
        distractors[person] = [names[i] for i in sorted(rng.choice(len(names), take, replace=False))]
    order = enrolled + padding
    return ScalePlan(order, strangers, distractors, [s for s in sizes if s <= len(order)])


def scale_curve(gallery: EnrolledGallery, split: Split, plan: ScalePlan, sessions: list[Session],
                embeddings: dict[str, np.ndarray | None], source: ThresholdSource) -> list[dict]:
    """Per gallery size: the threshold the source gives that size, the strangers' false marks and the
    enrolled members' marks (`core_enrolled_mark_rate`: the smallest gallery's people, at every size)."""
    core = set(plan.order[: plan.sizes[0]]) & set(split.enrolled)
    out = []
    for size in plan.sizes:
        members = plan.order[:size]
        enrolled = set(members) & set(split.enrolled)
        threshold, margin = source(size, None)
        index = gallery.index(members)
        people = enrolled | set(plan.strangers)
        probes = {p: split.probes[p] for p in people}
        chosen = [s for s in sessions if s.person in people]
        entry = evaluate(index, gallery.subject_of, enrolled, probes, chosen, embeddings, threshold, margin)
        core_sessions = [s for s in sessions if s.person in core]
        core_fig = evaluate(index, gallery.subject_of, core, {p: split.probes[p] for p in core}, core_sessions,
                            embeddings, threshold, margin)
        entry["core_enrolled_mark_rate"] = core_fig["enrolled_mark_rate"]
        entry["enrolled_in_gallery"] = len(enrolled)
        entry["distractors"] = size - len(enrolled)
        entry["strangers"] = len(plan.strangers)
        out.append(entry)
    return out
