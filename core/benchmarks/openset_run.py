"""One open-set benchmark run: data, split, embedding passes, enrolment, figures (used by `bench.openset`).

The protocol is `core.benchmarks.openset`; the images, variants and cache are
`core.benchmarks.openset_images`. A run with a variant (dark, tight) also
evaluates the normal photos with the same seed, gallery and sessions, so the
comparison lives in one result (`normal`, `vs_normal`).
"""

from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.benchmarks.lowres_cache import detector_identity
from core.gallery.policy import PolicyError
from core.benchmarks.openset import (
    DEFAULT_SIZES, MIN_STRANGERS, SESSION_LENGTH, SESSIONS_PER_PERSON, TARGETS,
    curve_sizes, draw_sessions, enrol_people, evaluate, model_default_source, policy_source, scale_curve, scale_plan,
    split_people,
)
from core.benchmarks.openset_enrol_cache import VerdictCache, enrol_cache_key
from core.benchmarks.openset_images import VARIANTS, cached_pass, load_photos
from core.errors import ConfigError
from core.gallery.faces import ENROL_JITTERS
from core.vision.pipeline import FacePipeline, build_pipeline

logger = logging.getLogger(__name__)

THRESHOLD_SOURCES = ("model-default", "policy")
COMPARED = ("enrolled_mark_rate", "stranger_false_mark_rate", "wrong_person_rate", "photo_tar", "photo_far")


@dataclass(frozen=True)
class OpensetSettings:
    data: Path
    enrolled_fraction: float = 0.5
    enroll_per_subject: int = 3
    embedder: str = "dlib"
    detector: str = "mtcnn"
    device: str = "cpu"
    min_face: int = 20
    seed: int = 0
    variant: str = "normal"
    distractors: bool = False
    sizes: tuple[int, ...] = DEFAULT_SIZES
    min_strangers: int = MIN_STRANGERS
    sessions_per_person: int = SESSIONS_PER_PERSON
    session_length: int = SESSION_LENGTH
    threshold_source: str = "model-default"
    cache_dir: Path | None = None
    jitters: int = ENROL_JITTERS
    targets: dict = field(default_factory=lambda: dict(TARGETS))

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", Path(self.data))
        if self.variant not in VARIANTS:
            raise ConfigError(f"unknown variant '{self.variant}': use one of {', '.join(VARIANTS)}")
        if self.threshold_source not in THRESHOLD_SOURCES:
            raise ConfigError(f"unknown threshold source '{self.threshold_source}': use one of "
                              f"{', '.join(THRESHOLD_SOURCES)}")
        if self.sessions_per_person < 1 or self.session_length < 1:
            raise ConfigError("sessions per person and session length must be at least 1, got "
                              f"{self.sessions_per_person} and {self.session_length}")


def machine_info() -> dict:
    return {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "torch": torch.__version__}


def run_openset(settings: OpensetSettings, pipeline: FacePipeline | None = None) -> dict:
    """The whole benchmark; returns the result dict. `pipeline` replaces the one the settings name (tests)."""
    started = time.perf_counter()
    s = settings
    photos = load_photos(s.data)
    names = sorted(n for photos_of in photos.values() for n in photos_of)
    split = split_people(photos, s.enrolled_fraction, s.enroll_per_subject, s.seed)
    if pipeline is None:
        pipeline = build_pipeline(s.detector, s.embedder, device=s.device, min_face_size=s.min_face)
    timings = {}
    t0 = time.perf_counter()
    normal, normal_cached = cached_pass(pipeline, s.data, names, s.detector, s.min_face, "normal", s.seed, s.cache_dir)
    timings["normal_pass_s"], cached = round(time.perf_counter() - t0, 1), {"normal": normal_cached}
    probe_pass = normal
    if s.variant != "normal":
        t0 = time.perf_counter()
        probe_pass, cached[s.variant] = cached_pass(pipeline, s.data, names, s.detector, s.min_face, s.variant,
                                                    s.seed, s.cache_dir, normal_boxes=normal.boxes)
        timings[f"{s.variant}_pass_s"] = round(time.perf_counter() - t0, 1)

    plan = None
    enrolment = dict(split.enrolled)
    if s.distractors:
        sizes = curve_sizes(len(split.people), s.sizes, s.min_strangers)
        plan = scale_plan(split, photos, sizes, s.seed, s.enroll_per_subject)
        enrolment.update(plan.distractors)
    t0 = time.perf_counter()
    verdicts = None
    if s.cache_dir is not None:
        verdicts = VerdictCache(s.cache_dir, enrol_cache_key(s.data, names, s.detector, pipeline.embedder.identity,
                                                             s.min_face, s.jitters))
    gallery = enrol_people(pipeline, s.data, enrolment, s.jitters, verdicts)
    if verdicts is not None:
        cached["enrolment_photos"] = {"from_cache": verdicts.hits, "computed": verdicts.misses}
    timings["enrolment_s"] = round(time.perf_counter() - t0, 1)
    sessions = draw_sessions(split.probes, s.sessions_per_person, s.seed, s.session_length)

    enrolled = set(split.enrolled)
    index = gallery.index(enrolled)
    if s.threshold_source == "policy":
        source, source_text = policy_source(gallery.model_identity), "Rollcall's policy (core.gallery.policy)"
    else:
        source = model_default_source(gallery.model_threshold)
        source_text = f"the model's default threshold ({gallery.model_threshold:g}), margin 0"
    threshold, margin = source(len(index), None)

    def figures(embeddings: dict, t: float, m: float) -> dict:
        return evaluate(index, gallery.subject_of, enrolled, split.probes, sessions, embeddings, t, m)

    result = figures(probe_pass.embeddings, threshold, margin)
    probe_names = [n for photos_of in split.probes.values() for n in photos_of]
    result["targets"] = target_figures(lambda t, m: figures(probe_pass.embeddings, t, m), gallery.model_identity,
                                       len(index), s.targets)
    if s.variant != "normal":
        base = figures(normal.embeddings, threshold, margin)
        found, found_normal = probe_pass.found(probe_names), normal.found(probe_names)
        result["normal"] = base
        result["vs_normal"] = {
            "faces_found": found, "faces_found_normal": found_normal,
            "faces_found_ratio": round(found / found_normal, 4) if found_normal else 0.0,
            **{f"{k}_delta": round(result[k] - base[k], 6) for k in COMPARED},
        }
    if plan is not None:
        result["scale_curve"] = scale_curve(gallery, split, plan, sessions, probe_pass.embeddings, source)
    result.update({
        "subjects": len(split.people),
        "enrolled": len(split.enrolled),
        "strangers": len(split.strangers),
        "enrolled_fraction": s.enrolled_fraction,
        "enroll_per_subject": s.enroll_per_subject,
        "enrolment_photos_rejected": gallery.rejected_photos,
        "people_not_enrolled": len(gallery.not_enrolled),
        "sessions": len(sessions),
        "session_draw": {
            "per_person": s.sessions_per_person, "length": s.session_length,
            "enrolled": sum(x.person in enrolled for x in sessions),
            "strangers": sum(x.person not in enrolled for x in sessions),
            "with_repeats": sum(x.repeats for x in sessions),
            "vote": "K of N as in the live loop (core.attendance.tracking.VotePolicy defaults)",
        },
        "probes": len(probe_names),
        "threshold_source": source_text,
        "embedder": gallery.model_name,
        "detector": detector_identity(s.detector) if s.detector.startswith("yunet") else s.detector,
        "detector_spec": s.detector,
        "variant": s.variant,
        "seed": s.seed,
        "data": str(s.data),
        "cached": cached,
        "timings": {**timings, "total_s": round(time.perf_counter() - started, 1)},
        "machine": machine_info(),
    })
    return result


def target_figures(run, model: str, gallery_size: int, targets: dict) -> dict:
    """The figures at each per-session false-mark target, with the policy's threshold for it; where the
    policy is missing, each target says why instead."""
    out = {}
    for key, target in targets.items():
        try:
            threshold, margin = policy_source(model)(gallery_size, target)
        except PolicyError as exc:  # a model without an impostor table
            out[key] = {"unavailable": str(exc)}
            continue
        out[key] = {"target": target, **run(threshold, margin)}
    return out
