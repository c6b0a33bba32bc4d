"""The threshold policy: impostor tables, the decision (gallery size, site pairs, manual, unknown models),
the margin rule and the operator's confidence scale."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.gallery.calibration import threshold_for_far
from core.gallery.impostor_tables import TABLES
from core.gallery.matching import TemplateIndex, clear_lead
from core.gallery.policy import (
    CONFIDENCE_DECADES, DEFAULT_SESSIONS, FALLBACK_MARGIN, ImpostorTable, PolicyError, confidence, decide_threshold,
    per_comparison_far, site_pairs_needed, table_for,
)


def synthetic_table(n: int = 200_000, seed: int = 0) -> tuple[ImpostorTable, np.ndarray]:
    scores = np.random.default_rng(seed).normal(0.8, 0.03, n)
    table = ImpostorTable.from_scores([scores], model="m", name="synthetic", dim=4, route="direct", margin=0.01)
    return table, scores


@pytest.fixture(scope="module")
def app_dlib():
    """The default model as the app loads it (its identity is the hash of the bundled weights file)."""
    from core.vision.models.loading import load_embedder
    return load_embedder("dlib")


@pytest.fixture(scope="module")
def dlib_table() -> ImpostorTable:
    found = [ImpostorTable.from_dict(t) for t in TABLES.values() if t["name"].startswith("dlib") and t["route"] == "direct"]
    assert len(found) == 1, "the dlib table ships with the code (core/gallery/impostor_tables.py)"
    return found[0]


# ------------------------------------------------------------------ tables

def test_a_table_reproduces_the_measured_thresholds_down_to_ten_pairs() -> None:
    table, scores = synthetic_table()
    assert table.points[0][0] == pytest.approx(1e-1)
    assert table.min_far * len(scores) >= 10 and table.min_far * len(scores) < 10 * 10 ** 0.25
    for far, t in table.points:
        assert t == pytest.approx(threshold_for_far(scores, far), abs=1e-6)
        assert table.threshold_at(far) == pytest.approx(t)
    assert table.max_score == scores.max() and table.comparisons == len(scores)


def test_below_the_table_the_threshold_is_extrapolated_upwards_and_above_every_impostor() -> None:
    table, scores = synthetic_table()
    last = table.points[-1][1]
    deeper = [table.threshold_at(table.min_far / 10 ** k) for k in (0.5, 1, 2, 3)]
    assert last < deeper[0] < deeper[1] < deeper[2] < deeper[3] <= 1.0
    # conservative against the truth for a Gaussian tail (the true threshold two decades down)
    from statistics import NormalDist
    assert deeper[2] >= 0.8 + 0.03 * NormalDist().inv_cdf(1 - table.min_far / 100)


def test_far_at_inverts_threshold_at() -> None:
    table, _ = synthetic_table()
    for far in (5e-2, 1e-3, 3e-5, 1e-7):
        assert table.far_at(table.threshold_at(far)) == pytest.approx(far, rel=1e-6)
    assert table.far_at(-1.0) == 1.0 and table.far_at(1.0) < 1e-7


def test_a_table_round_trips_and_refuses_bad_points() -> None:
    table, _ = synthetic_table(20_000)
    assert ImpostorTable.from_dict(table.to_dict()) == table
    with pytest.raises(PolicyError, match="regenerate"):
        ImpostorTable.from_dict({**table.to_dict(), "points": [[1e-1, 0.9], [1e-2, 0.8]]})


def test_several_score_sets_give_the_higher_threshold_as_deep_as_all_reach() -> None:
    rng = np.random.default_rng(1)
    low, high = rng.normal(0.8, 0.03, 500_000), rng.normal(0.82, 0.03, 50_000)
    both = ImpostorTable.from_scores([low, high], model="m", name="x", dim=4, route="direct", margin=0.01)
    assert both.threshold_at(1e-3) == pytest.approx(threshold_for_far(high, 1e-3))
    assert both.min_far * len(high) >= 10 and both.comparisons == len(low)


# ------------------------------------------------------------------ the decision

def test_the_shipped_dlib_threshold_rises_with_the_gallery(dlib_table: ImpostorTable) -> None:
    decisions = [decide_threshold(dlib_table, n, 1000) for n in (1, 10, 100, 1000)]
    thresholds = [d.threshold for d in decisions]
    assert all(a < b for a, b in zip(thresholds, thresholds[1:])), thresholds
    assert [d.per_comparison_far for d in decisions] == pytest.approx([1e-3, 1e-4, 1e-5, 1e-6])
    assert all(d.source == "table" and d.margin == dlib_table.margin > 0 for d in decisions)
    assert "extrapolated" in decisions[-1].reason and "extrapolated" not in decisions[0].reason
    # stricter choices, higher thresholds
    assert decide_threshold(dlib_table, 10, 100).threshold < thresholds[1] < decide_threshold(dlib_table, 10, 10000).threshold


def test_the_shipped_table_is_keyed_by_the_default_models_identity(app_dlib) -> None:
    table = table_for(app_dlib.identity)
    assert table is not None and table.name.startswith("dlib") and table.dim == 128
    assert 0.9 < table.threshold_at(1e-3) < 0.96  # near the calibrated default (0.929 at 1e-3 per pair)


def test_a_small_site_gallery_never_lowers_the_threshold_but_may_raise_it() -> None:
    table, _ = synthetic_table()
    base = decide_threshold(table, 20, DEFAULT_SESSIONS)
    rng = np.random.default_rng(3)
    lower = rng.normal(0.7, 0.03, 94)  # its suggested threshold is far below the table's
    kept = decide_threshold(table, 20, DEFAULT_SESSIONS, site_scores=lower)
    assert threshold_for_far(lower, kept.per_comparison_far) < base.threshold
    assert kept.threshold == base.threshold and kept.source == "table"
    assert "94" in kept.reason and f"{site_pairs_needed(kept.per_comparison_far):,}" in kept.reason
    higher = np.append(lower, base.threshold + 0.02)  # two enrolled people who look alike
    raised = decide_threshold(table, 20, DEFAULT_SESSIONS, site_scores=higher)
    assert raised.source == "site" and raised.threshold > base.threshold + 0.019
    assert "raised" in raised.reason


def test_enough_site_pairs_may_lower_the_threshold() -> None:
    table, _ = synthetic_table()
    far = per_comparison_far(100, 2)
    needed = site_pairs_needed(far)
    assert needed == 2000  # 10 / FAR
    site = np.random.default_rng(4).normal(0.7, 0.03, needed)
    decision = decide_threshold(table, 2, 100, site_scores=site)
    assert decision.source == "site" and decision.threshold < table.threshold_at(far)
    assert decision.threshold == pytest.approx(threshold_for_far(site, far))
    short = decide_threshold(table, 2, 100, site_scores=site[: needed - 1])
    assert short.source == "table" and short.threshold == table.threshold_at(far)


def test_a_manual_threshold_wins_and_says_what_the_policy_would_use() -> None:
    table, _ = synthetic_table()
    decision = decide_threshold(table, 5, DEFAULT_SESSIONS, manual=0.5)
    assert decision.threshold == 0.5 and decision.source == "manual"
    assert "set by hand" in decision.reason and f"{table.threshold_at(decision.per_comparison_far):.4f}" in decision.reason


def test_models_without_a_table_fall_back_with_a_reason() -> None:
    decision = decide_threshold(None, 30, DEFAULT_SESSIONS, model_default=0.4)
    assert decision.threshold == 0.4 and decision.source == "model default" and decision.margin == FALLBACK_MARGIN
    assert "no impostor table" in decision.reason
    lower = np.random.default_rng(5).normal(0.1, 0.05, 94)
    assert decide_threshold(None, 30, DEFAULT_SESSIONS, site_scores=lower, model_default=0.4).threshold == 0.4
    with pytest.raises(PolicyError, match="set a threshold by hand"):
        decide_threshold(None, 30, DEFAULT_SESSIONS)


def test_only_the_offered_choices_are_accepted() -> None:
    table, _ = synthetic_table(20_000)
    with pytest.raises(PolicyError, match="1 of N sessions"):
        decide_threshold(table, 3, 500)
    assert per_comparison_far(1000, 0) == per_comparison_far(1000, 1) == 1e-3


# ------------------------------------------------------------------ margin

def test_a_two_way_tie_is_always_refused() -> None:
    assert not clear_lead(0.95, 0.95, 0.0) and not clear_lead(0.95, 0.95, 0.01)
    assert not clear_lead(0.95, 0.945, 0.01)  # a near-tie below the margin
    assert clear_lead(0.95, 0.93, 0.01) and clear_lead(0.95, -1.0, 0.01)
    v = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
    index = TemplateIndex(np.array([1, 2, 3]), ["A", "B", "C"], v)
    tie, clear = index.identify(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32), threshold=0.5)
    assert tie.person_id is None and tie.best_person_id in (1, 2) and clear.person_id == 3


def test_the_shipped_margin_is_small_and_positive(dlib_table: ImpostorTable) -> None:
    assert 0.0 < dlib_table.margin < 0.05


# ------------------------------------------------------------------ confidence

def test_confidence_is_50_at_the_bar_monotone_and_clipped() -> None:
    table, _ = synthetic_table()
    decision = decide_threshold(table, 10, DEFAULT_SESSIONS)
    bar = decision.threshold
    assert confidence(bar, decision) == 50
    assert confidence(float(np.nextafter(bar, -1)), decision) == 49
    scores = np.linspace(0.6, 1.0, 401)
    values = [confidence(float(s), decision) for s in scores]
    assert all(a <= b for a, b in zip(values, values[1:])) and values[0] == 0 and values[-1] == 100
    thousandfold = table.threshold_at(decision.per_comparison_far / 10 ** CONFIDENCE_DECADES)
    assert confidence(thousandfold, decision) == 100 and confidence(thousandfold - 0.005, decision) < 100
    assert confidence(math.nan, decision) == 0


def test_confidence_without_a_table_is_linear_around_the_bar() -> None:
    decision = decide_threshold(None, 3, DEFAULT_SESSIONS, model_default=0.5)
    assert [confidence(s, decision) for s in (-1.0, 0.5, 0.75, 1.0)] == [0, 50, 75, 100]


# ------------------------------------------------------------------ the service and the recogniser

def add_people(gallery, model, count: int, start: int, dim: int) -> None:
    from tests.core.gallery_fixtures import synthetic_sample, unit
    rng = np.random.default_rng(start)
    for i in range(start, start + count):
        gallery.add_person(f"P{i}", [synthetic_sample(i)], unit(rng.normal(size=(1, dim))), model)


@pytest.fixture
def dlib_service(tmp_path, app_dlib):
    from core.service import Rollcall
    with Rollcall.open(tmp_path / "rollcall.db") as service:
        service.gallery.activate_model(app_dlib)
        yield service


def test_the_service_decision_follows_the_gallery_and_the_operator(dlib_service) -> None:
    service = dlib_service
    model = service.gallery.active_model()
    add_people(service.gallery, model, 2, 0, model.dim)
    first = service.threshold_decision()
    assert first.source == "table" and first.enrolled == 2 and first.sessions_per_false_mark == DEFAULT_SESSIONS
    assert service.threshold_decision() is first  # nothing changed: not recomputed
    add_people(service.gallery, model, 18, 2, model.dim)
    more = service.threshold_decision()
    assert more.enrolled == 20 and more.threshold > first.threshold
    seen = []
    service.subscribe(seen.append)
    stricter = service.set_sessions_per_false_mark(10000)
    assert service.sessions_per_false_mark == 10000 and stricter.threshold > more.threshold and seen[-1].model
    with pytest.raises(PolicyError):
        service.set_sessions_per_false_mark(5)
    service.set_threshold(model.id, 0.9)
    assert service.threshold_decision().source == "manual" and service.threshold_decision().threshold == 0.9
    service.use_policy_threshold()
    assert service.threshold_decision().threshold == stricter.threshold


def test_the_recogniser_uses_the_decision(dlib_service, app_dlib) -> None:
    from types import SimpleNamespace

    from core.attendance.recogniser import RecognitionSettings, Recogniser
    service = dlib_service
    model = service.gallery.active_model()
    add_people(service.gallery, model, 3, 0, model.dim)
    pipeline = SimpleNamespace(embedder=app_dlib)
    recogniser = Recogniser(pipeline, service.gallery)
    decision = service.threshold_decision()
    assert recogniser.threshold == decision.threshold and recogniser.margin == decision.margin > 0
    assert recogniser.decision_for("small").threshold >= 0.9
    add_people(service.gallery, model, 30, 3, model.dim)
    recogniser.reload()
    assert recogniser.threshold == service.threshold_decision().threshold > decision.threshold
    fixed = Recogniser(pipeline, service.gallery, settings=RecognitionSettings(threshold=0.5, margin=0.0))
    assert fixed.threshold == 0.5 and fixed.margin == 0.0


def test_a_model_without_a_table_uses_its_default(tmp_path) -> None:
    from core.service import Rollcall
    from tests.core.gallery_fixtures import tiny_embedder
    with Rollcall.open(tmp_path / "rollcall.db") as service:
        embedder = tiny_embedder(0)
        service.gallery.activate_model(embedder)
        add_people(service.gallery, service.gallery.active_model(), 2, 0, embedder.dim)
        decision = service.threshold_decision()
        assert decision.source == "model default" and decision.threshold == 0.5 and "no impostor table" in decision.reason


def test_the_bench_script_writes_a_module_the_policy_reads(tmp_path, monkeypatch) -> None:
    import importlib.util

    import bench.impostor_table
    from bench.impostor_table import route_table, write_module
    monkeypatch.setattr(bench.impostor_table, "MARGIN_ENROLLED", 1)  # a bar this toy set can reach
    rng = np.random.default_rng(6)
    centres = rng.normal(size=(30, 16))
    labels = np.repeat(np.arange(30).astype(str), 7)
    direct = centres[np.repeat(np.arange(30), 7)] + 0.15 * rng.normal(size=(210, 16))
    arrays = {"labels": labels, "direct": direct, "small": direct + 0.3 * rng.normal(size=direct.shape),
              "identity": np.array("abc"), "name": np.array("toy"), "dim": np.array(16)}
    tables = {route: route_table(arrays, route, "toy data") for route in ("direct", "small")}
    direct_table, report = tables["direct"]
    assert report["margin"]["genuine_refused_by_margin"] is not None and direct_table.margin >= 0.002
    assert report["thresholds"]["0.001"]["table"] >= report["thresholds"]["0.001"]["templates_only"]
    path = write_module(tmp_path / "tables.py", [t for t, _ in tables.values()], "python -m bench.impostor_table ...")
    spec = importlib.util.spec_from_file_location("generated_tables", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert set(module.TABLES) == {("abc", "direct"), ("abc", "small")}
    assert ImpostorTable.from_dict(module.TABLES[("abc", "direct")]) == direct_table
