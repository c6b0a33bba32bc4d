from __future__ import annotations

import numpy as np
import pytest

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


def test_template_trials_score_probes_against_templates_of_other_samples() -> None:
    from core.gallery.calibration import template_trials
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    labels = np.repeat(np.arange(4), 7)  # 7 samples each: two disjoint templates of 3
    x = centres[labels] + 0.3 * rng.normal(size=(28, 16))
    trials = template_trials(labels, x, enroll=3, per_person=5)
    assert trials.templates == 8 and trials.people == 4
    assert len(trials.impostor) == 28 * 8 - 7 * 8  # every probe against the other people's templates
    assert len(trials.genuine) == 8 * (7 - 3)  # never a probe that is part of the template
    assert trials.genuine.mean() > trials.impostor.mean() + 0.5
    assert len(trials.own) == len(trials.best_other) == len(trials.second_other) == 8 * 4
    assert np.all(trials.best_other >= trials.second_other)
    blurred = template_trials(labels, x, enroll=3, probes=x + rng.normal(size=x.shape))
    assert blurred.genuine.mean() < trials.genuine.mean()
    with pytest.raises(ValueError, match="two people"):
        template_trials(labels[:7], x[:7])
