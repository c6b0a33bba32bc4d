"""The open-set benchmark: seeded split, sessions through the live vote, figures, variants, the policy adapter."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.openset import format_table
from core.benchmarks.openset import (
    TARGETS, Session, curve_sizes, draw_sessions, evaluate, model_default_source,
    policy_threshold, scale_plan, split_people, vote_session,
)
from core.benchmarks.openset_images import (
    EmbeddingPass, cached_pass, darken, load_photos, tight_crop, variant_image, variant_rng,
)
from core.benchmarks.openset_run import OpensetSettings, run_openset
from core.errors import BenchmarkDataError
from core.gallery.matching import Match, TemplateIndex
from core.vision.align import ARCFACE_TEMPLATE
from core.vision.detect.base import Detection, Detector
from core.vision.pipeline import FacePipeline
from tests.core.gallery_fixtures import tiny_embedder, unit


def photos_of(counts: dict[str, int]) -> dict[str, list[str]]:
    return {p: [f"{p}/{i}.jpg" for i in range(n)] for p, n in counts.items()}


# --- split and sessions ---

def test_split_is_seeded_disjoint_and_enrols_only_people_with_probes() -> None:
    photos = photos_of({f"p{i:02d}": 2 + i % 7 for i in range(30)})
    a, b = split_people(photos, 0.5, 3, seed=4), split_people(photos, 0.5, 3, seed=4)
    assert a == b
    assert split_people(photos, 0.5, 3, seed=5).enrolled != a.enrolled
    assert len(a.enrolled) == 15 and len(a.strangers) == 15
    assert not set(a.enrolled) & set(a.strangers) and set(a.enrolled) | set(a.strangers) == set(photos)
    for person, enrol in a.enrolled.items():
        assert len(enrol) == 3 and len(photos[person]) > 3
        assert not set(enrol) & set(a.probes[person])
        assert sorted(enrol + a.probes[person]) == sorted(photos[person])
    for person in a.strangers:
        assert a.probes[person] == sorted(photos[person])


def test_split_refuses_a_fraction_outside_zero_one() -> None:
    with pytest.raises(BenchmarkDataError, match="between 0 and 1"):
        split_people(photos_of({"a": 5, "b": 5}), 1.0, 3, 0)


def test_sessions_are_seeded_and_repeat_photos_only_when_short() -> None:
    probes = {"many": [f"m{i}" for i in range(8)], "few": ["f0", "f1"], "none": []}
    sessions = draw_sessions(probes, per_person=4, seed=1)
    assert sessions == draw_sessions(probes, per_person=4, seed=1)
    assert len(sessions) == 8 and {s.person for s in sessions} == {"many", "few"}
    for s in sessions:
        assert len(s.photos) == 5 and set(s.photos) <= set(probes[s.person])
        assert s.repeats == (s.person == "few")
        if s.person == "many":
            assert len(set(s.photos)) == 5


def m(pid: int | None, score: float = 0.9) -> Match:
    return Match(pid, None, score, 0.1, pid)


def test_the_vote_needs_three_of_five_agreeing() -> None:
    assert vote_session([m(1), m(2), m(1), m(2), m(None)]) is None  # split between two people: no mark
    assert vote_session([m(1), m(2), m(1), m(None), m(1)]) == 1
    assert vote_session([m(1), None, m(1), None, m(1)]) == 1  # unseen frames cast no vote
    assert vote_session([m(1), None, m(1), None, None]) is None


# --- figures on synthetic embeddings ---

def synthetic_gallery(dim: int = 16):
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(4, dim)))  # A, B enrolled; C, D strangers
    index = TemplateIndex(np.array([1, 2]), ["A", "B"], centres[:2])
    return centres, index, {1: "A", 2: "B"}


def test_evaluate_counts_marks_false_marks_and_wrong_people() -> None:
    centres, index, subject_of = synthetic_gallery()
    emb = {"a1": centres[0], "a2": centres[0], "b1": centres[0],  # B's photos look like A: wrong person
           "c1": centres[0], "c2": centres[1], "d1": centres[3], "a0": None}
    probes = {"A": ["a0", "a1", "a2"], "B": ["b1"], "C": ["c1", "c2"], "D": ["d1"]}
    sessions = [Session("A", ("a1", "a2", "a1", "a0", "a0"), True), Session("B", ("b1",) * 5, True),
                Session("C", ("c1", "c2", "c1", "c2", "c2"), False),  # 2 A + 3 B: marked as B
                Session("C", ("c1", "c2", "c1", "c2", "d1"), False),  # 2 + 2: not marked
                Session("D", ("d1",) * 5, True)]
    r = evaluate(index, subject_of, {"A", "B"}, probes, sessions, emb, threshold=0.9)
    assert r["enrolled_mark_rate"] == 0.5 and r["wrong_person_rate"] == 0.5
    assert r["stranger_false_mark_rate"] == round(1 / 3, 6) and r["stranger_false_mark_rate_distinct"] == 0.5
    assert r["photo_tar"] == 0.5 and r["photo_far"] == round(2 / 3, 6)
    assert r["no_face"] == {"count": 1, "rate": round(1 / 7, 6), "of_probes": 7}
    strict = evaluate(index, subject_of, {"A", "B"}, probes, sessions, emb, threshold=1.01)
    assert strict["stranger_false_mark_rate"] == 0.0 and strict["enrolled_mark_rate"] == 0.0


def test_threshold_sources() -> None:
    assert model_default_source(0.93)(200, 1e-3) == (0.93, 0.0)


def test_policy_adapter_asks_rollcalls_policy_for_the_gallery_size_and_target() -> None:
    from core.gallery.policy import DEFAULT_SESSIONS, decide_threshold, table_for
    from core.vision.models.loading import DEFAULT_EMBEDDER, load_embedder

    identity = load_embedder(DEFAULT_EMBEDDER).identity
    for n, target, sessions in ((10, 1e-2, 100), (100, 1e-3, 1000), (100, None, DEFAULT_SESSIONS)):
        decision = decide_threshold(table_for(identity), n, sessions)
        assert policy_threshold(identity, n, target) == (decision.threshold, decision.margin)
    assert policy_threshold(identity, 200, 1e-3)[0] > policy_threshold(identity, 10, 1e-3)[0]


def test_policy_adapter_refuses_a_model_without_a_table() -> None:
    from core.gallery.policy import PolicyError

    with pytest.raises(PolicyError, match="neither an impostor table"):
        policy_threshold("no-such-model", 10, 1e-3)


# --- the scale curve's plan ---

def test_curve_sizes_are_capped_by_the_strangers_kept() -> None:
    assert curve_sizes(223) == [10, 25, 50, 100, 200]
    assert curve_sizes(76) == [10, 25, 50, 56]
    with pytest.raises(BenchmarkDataError):
        curve_sizes(20)
    assert curve_sizes(25) == [5]


def test_scale_plan_pads_with_distractors_disjoint_from_its_strangers() -> None:
    photos = photos_of({f"p{i:02d}": 2 + i % 6 for i in range(60)})
    split = split_people(photos, 0.5, 3, 0)
    plan = scale_plan(split, photos, curve_sizes(60), 0, 3)
    assert plan.sizes == [10, 25, 40] and len(plan.order) == 40 and len(plan.strangers) == 20
    assert plan.order[:30] and set(plan.order[:30]) == set(split.enrolled)
    assert not set(plan.order) & set(plan.strangers) and set(plan.distractors) == set(plan.order[30:])
    assert all(1 <= len(v) <= 3 for v in plan.distractors.values())


# --- variants ---

def test_dark_variant_is_darker_unevenly_lit_and_seeded() -> None:
    image = np.full((40, 100, 3), 180, np.uint8)
    dark = darken(image, variant_rng(0, "x.jpg"))
    assert dark.shape == image.shape and dark.mean() < 0.5 * image.mean()
    left, right = dark[:, :10].mean(), dark[:, -10:].mean()
    assert max(left, right) > 1.8 * min(left, right)  # a side light: one side far darker
    assert np.array_equal(dark, darken(image, variant_rng(0, "x.jpg")))
    assert not np.array_equal(dark, darken(image, variant_rng(1, "x.jpg")))


def test_tight_variant_crops_to_the_normal_face_box(tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 255, (100, 90, 3), dtype=np.uint8)
    crop = tight_crop(image, np.array([10, 20, 50, 80]), margin=0.05)
    assert np.array_equal(crop, image[17:83, 8:52])
    assert tight_crop(image, np.array([0, 0, 90, 100])).shape == image.shape  # clipped to the image
    cv2.imwrite(str(tmp_path / "a.png"), image)
    assert variant_image(tmp_path, "a.png", "tight", 0, {"a.png": None}) is None
    assert np.array_equal(variant_image(tmp_path, "a.png", "tight", 0, {"a.png": np.array([10, 20, 50, 80])}),
                          image[17:83, 8:52])
    assert variant_image(tmp_path, "a.png", "dark", 0, None).mean() < image.mean()


# --- the whole run, with a fake detector and a tiny random embedder ---

class _CentreFace(Detector):
    """One face in the middle of any image with texture there; none in a flat image."""

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        side = 0.6 * min(h, w)
        x0, y0 = (w - side) / 2, (h - side) / 2
        if image[int(y0):int(y0 + side), int(x0):int(x0 + side)].std() < 3:
            return []
        lm = ARCFACE_TEMPLATE.array() * side / 112 + [x0, y0]
        return [Detection(np.array([x0, y0, x0 + side, y0 + side], np.float32), 0.99, lm.astype(np.float32))]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("people")
    rng = np.random.default_rng(0)
    for p in range(8):
        base = cv2.resize(rng.normal(size=(8, 8, 3)).astype(np.float32), (120, 120), interpolation=cv2.INTER_CUBIC)
        (root / f"person{p}").mkdir()
        for i in range(5 if p % 2 else 3):
            noisy = np.clip(128 + 50 * base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / f"person{p}" / f"{i}.png"), noisy)
    cv2.imwrite(str(root / "person1" / "5.png"), np.zeros((120, 120, 3), np.uint8))  # no face found
    return root


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline(_CentreFace(), tiny_embedder(0))


def test_the_run_writes_every_key_and_compares_a_variant_with_normal(folder, pipeline, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "core.gallery.policy", None)  # the targets say the policy is missing
    settings = OpensetSettings(folder, seed=0, jitters=0, sessions_per_person=3, variant="dark",
                               cache_dir=tmp_path / "cache", distractors=True, sizes=(2, 6, 9), min_strangers=2)
    r = run_openset(settings, pipeline)
    for key in ("enrolled_mark_rate", "stranger_false_mark_rate", "wrong_person_rate", "photo_tar", "photo_far",
                "threshold", "margin", "subjects", "enrolled", "strangers", "sessions", "no_face", "embedder",
                "detector", "variant", "seed", "targets", "normal", "vs_normal", "scale_curve"):
        assert key in r, key
    assert r["subjects"] == 8 and r["enrolled"] == 4 and r["strangers"] == 4
    assert r["threshold"] == 0.5 and r["margin"] == 0.0  # the tiny model's default
    assert r["sessions"] == 8 * 3
    assert r["normal"]["no_face"]["count"] + r["enrolment_photos_rejected"] == 1  # the one flat image
    assert set(r["targets"]) == set(TARGETS) and all("unavailable" in e for e in r["targets"].values())
    assert 0.0 <= r["vs_normal"]["faces_found_ratio"] <= 1.5
    curve = r["scale_curve"]
    assert [e["gallery_size"] for e in curve] == [2, 6] and curve[1]["distractors"] == 2
    assert all(e["strangers"] == 2 for e in curve)
    assert r["cached"]["enrolment_photos"]["from_cache"] == 0
    again = run_openset(settings, pipeline)  # every pass and enrolment verdict from the cache, same figures
    assert again["cached"]["normal"] and again["cached"]["dark"]
    assert again["cached"]["enrolment_photos"] == {"from_cache": r["cached"]["enrolment_photos"]["computed"],
                                                   "computed": 0}
    for key in ("normal", "scale_curve", "counts", "enrolled_mark_rate", "photo_tar", "photo_far"):
        assert again[key] == r[key], key
    table = format_table(r)
    assert "strangers marked (false marks)" in table and "faces found:" in table and "1e-2, 1e-3, 1e-4" in table


def test_targets_take_the_policys_threshold_for_the_gallery_size(folder, pipeline, monkeypatch) -> None:
    calls = []

    def fake_policy(model, n, target):
        calls.append((n, target))
        return 2.0 if target < 1e-3 else -1.0, 0.0

    monkeypatch.setattr("core.benchmarks.openset.policy_threshold", fake_policy)
    r = run_openset(OpensetSettings(folder, jitters=0, sessions_per_person=2), pipeline)
    assert sorted(calls) == sorted((4, t) for t in TARGETS.values())  # 4 people enrolled
    assert r["threshold"] == 0.5  # the main figures stay at the model default
    assert r["targets"]["1e-4"]["threshold"] == 2.0 and r["targets"]["1e-4"]["stranger_false_mark_rate"] == 0.0
    assert r["targets"]["1e-2"]["threshold"] == -1.0 and r["targets"]["1e-2"]["stranger_false_mark_rate"] == 1.0
    assert "1e-4: threshold 2.0000" in format_table(r)


def test_the_tight_pass_crops_what_the_normal_pass_found(folder, pipeline) -> None:
    names = ["person1/0.png", "person1/5.png"]
    normal, _ = cached_pass(pipeline, folder, names, "fake", 20, "normal", 0, None)
    tight, _ = cached_pass(pipeline, folder, names, "fake", 20, "tight", 0, None, normal_boxes=normal.boxes)
    assert isinstance(tight, EmbeddingPass)
    assert normal.embeddings["person1/5.png"] is None and tight.embeddings["person1/5.png"] is None
    assert tight.boxes["person1/0.png"][2] < normal.boxes["person1/0.png"][2]  # a smaller image: the crop


def test_load_photos_reads_both_layouts(folder, tmp_path) -> None:
    assert len(load_photos(folder)) == 8 and load_photos(folder)["person1"][-1] == "person1/5.png"
    (tmp_path / "images").mkdir()
    for n in ("1.jpg", "2.jpg", "3.jpg"):
        (tmp_path / "images" / n).write_bytes(b"x")
    (tmp_path / "identities.txt").write_text("# image identity\n1.jpg 7\n2.jpg 9\n3.jpg 7\n")
    assert load_photos(tmp_path) == {"7": ["images/1.jpg", "images/3.jpg"], "9": ["images/2.jpg"]}
    (tmp_path / "identities.txt").write_text("4.jpg 7\n")
    with pytest.raises(BenchmarkDataError, match="not in"):
        load_photos(tmp_path)
