from __future__ import annotations

import numpy as np
import pytest

from core.gallery.matching import TemplateIndex
from tests.core.gallery_fixtures import unit


def _index(n: int = 5, dim: int = 16, seed: int = 0) -> TemplateIndex:
    m = unit(np.random.default_rng(seed).normal(size=(n, dim)))
    return TemplateIndex(np.arange(10, 10 + n), [f"p{i}" for i in range(n)], m)


def test_search_returns_top_k_best_first() -> None:
    index = _index(50)
    q = unit(np.random.default_rng(1).normal(size=(8, 16)))
    scores, rows = index.search(q, k=3)
    full = q @ index.matrix.T
    assert np.array_equal(rows[:, 0], full.argmax(1))
    assert np.allclose(scores, -np.sort(-full, axis=1)[:, :3])


def test_identify_known_and_unknown() -> None:
    index = _index()
    probe = unit(index.matrix[2] + 0.05)
    known, = index.identify(probe, threshold=0.9)
    assert (known.person_id, known.name) == (12, "p2") and known.known
    stranger = unit(np.random.default_rng(9).normal(size=16))
    unknown, = index.identify(stranger, threshold=0.9)
    assert unknown.person_id is None and not unknown.known and unknown.best_person_id is not None
    assert unknown.score < 0.9


def test_margin_rule_rejects_ambiguous_faces() -> None:
    a, b = unit(np.array([1.0, 0.0])), unit(np.array([0.0, 1.0]))
    index = TemplateIndex(np.array([1, 2]), ["a", "b"], np.stack([a, b]))
    between = unit(a + b * 0.95)
    without, = index.identify(between, threshold=0.5)
    with_margin, = index.identify(between, threshold=0.5, margin=0.1)
    assert without.person_id == 1 and with_margin.person_id is None
    assert with_margin.score - with_margin.second_score < 0.1


def test_empty_index_and_dimension_checks() -> None:
    empty = TemplateIndex.empty(16)
    match, = empty.identify(np.ones((1, 16)), threshold=0.5)
    assert match.person_id is None and match.score == -1.0
    with pytest.raises(ValueError, match="dimensions"):
        _index().search(np.ones((1, 8)))
    assert _index().identify(np.zeros((0, 16)), 0.5) == []
