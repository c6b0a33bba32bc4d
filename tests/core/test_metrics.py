from __future__ import annotations

import itertools

import numpy as np
import pytest

from core.gallery.calibration import far_frr_curve
from core.benchmarks.metrics import (
    best_threshold, kfold_accuracy, roc_auc, stratified_folds, tar_at_far,
)


def _scores(seed: int = 0, n: int = 500, gap: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    scores = np.r_[rng.normal(gap, 1, n), rng.normal(0, 1, n)]
    return scores, labels


def test_best_threshold_is_the_exhaustive_optimum() -> None:
    scores, labels = _scores(n=60)
    t, acc = best_threshold(scores, labels)
    brute = max(((scores >= c) == labels).mean() for c in np.r_[scores, scores.max() + 1])
    assert acc == pytest.approx(brute)
    assert ((scores >= t) == labels).mean() == pytest.approx(acc)


def test_kfold_accuracy_on_separable_and_random_scores() -> None:
    labels = np.r_[np.ones(100, bool), np.zeros(100, bool)]
    perfect = kfold_accuracy(np.r_[np.full(100, 0.9), np.full(100, 0.1)], labels)
    assert perfect.accuracy == 1.0 and perfect.accuracy_std == 0.0
    rng = np.random.default_rng(1)
    noise = kfold_accuracy(rng.random(200), labels)
    assert 0.3 < noise.accuracy < 0.7


def test_folds_are_stratified() -> None:
    labels = np.r_[np.ones(1000, bool), np.zeros(1000, bool)]
    folds = stratified_folds(labels, 10)
    for f in range(10):
        assert labels[folds == f].sum() == 100 and (~labels[folds == f]).sum() == 100


def test_roc_auc_matches_pairwise_definition() -> None:
    scores, labels = _scores(n=40)
    scores = np.round(scores, 1)  # create ties
    pos, neg = scores[labels], scores[~labels]
    brute = np.mean([1.0 if p > q else 0.5 if p == q else 0.0 for p, q in itertools.product(pos, neg)])
    assert roc_auc(scores, labels) == pytest.approx(brute)


def test_tar_at_far_accepts_at_most_the_allowed_impostors() -> None:
    scores, labels = _scores(n=1000, gap=2.0)
    tar, t = tar_at_far(scores, labels, 1e-2)
    assert (scores[~labels] >= t).sum() <= 10
    assert (scores[~labels] >= np.nextafter(t, -np.inf)).sum() > 10  # any lower threshold accepts too many
    assert tar == pytest.approx((scores[labels] >= t).mean())


def test_far_frr_curve_is_monotone() -> None:
    scores, labels = _scores()
    far, frr = far_frr_curve(scores[labels], scores[~labels], np.linspace(-3, 4, 50))
    assert np.all(np.diff(far) <= 0) and np.all(np.diff(frr) >= 0)
    assert far[0] == 1.0 and frr[0] == 0.0
