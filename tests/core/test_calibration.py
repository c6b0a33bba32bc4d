from __future__ import annotations

import numpy as np

from core.gallery.calibration import calibrate, pair_scores, threshold_for_far
from tests.core.gallery_fixtures import unit


def _clusters(people: int = 20, per: int = 5, spread: float = 0.15, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(people, 32)))
    x = unit(np.repeat(centres, per, axis=0) + spread * rng.normal(size=(people * per, 32)))
    return np.repeat(np.arange(people), per), x


def test_pair_scores_count_every_pair() -> None:
    labels, x = _clusters(people=4, per=3)
    genuine, impostor = pair_scores(labels, x)
    assert len(genuine) == 4 * 3 and len(impostor) == 12 * 11 // 2 - 12


def test_threshold_meets_the_target_far() -> None:
    labels, x = _clusters()
    cal = calibrate(labels, x, target_far=0.01)
    _, impostor = pair_scores(labels, x)
    assert (impostor >= cal.threshold).mean() <= 0.01
    assert cal.far <= 0.01 and 0.0 <= cal.frr < 0.2
    assert np.all(np.diff(cal.curve_far) <= 0)


def test_threshold_for_far_with_few_pairs() -> None:
    imp = np.array([0.1, 0.2, 0.3, 0.4])
    assert threshold_for_far(imp, 0.25) > 0.3  # one of four may pass: only 0.4
    assert (imp >= threshold_for_far(imp, 0.25)).sum() == 1
