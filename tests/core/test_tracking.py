from __future__ import annotations

import numpy as np
import pytest

from core.attendance.tracking import FaceTracker, Track, VotePolicy, cast_vote, iou_matrix, unknown_streak


def test_iou() -> None:
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    assert np.allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]])


def test_tracker_follows_moving_faces_and_separates_people() -> None:
    tracker = FaceTracker()
    left, right = np.array([0, 0, 50, 50.0]), np.array([200, 0, 250, 50.0])
    t1 = tracker.update(np.stack([left, right]), 0.0)
    t2 = tracker.update(np.stack([right + 5, left + 5]), 0.1)  # order swapped, moved a little
    assert [t.id for t in t2] == [t1[1].id, t1[0].id]
    t3 = tracker.update(np.stack([left + 5]), 5.0)  # long gap: old tracks expired
    assert t3[0].id not in (t1[0].id, t1[1].id)


def test_k_of_n_vote_marks_once() -> None:
    policy = VotePolicy(k=3, n=5, window_s=3.0)
    track = Track(1, np.zeros(4), 0.0)
    decisions = [cast_vote(track, pid, 0.9, t * 0.1, policy) for t, pid in enumerate([7, None, 7, 8, 7, 7, 7])]
    assert decisions == [None, None, None, None, 7, None, None]


def test_one_bad_frame_never_marks() -> None:
    policy = VotePolicy()
    track = Track(1, np.zeros(4), 0.0)
    decisions = [cast_vote(track, pid, 0.9, t * 0.1, policy) for t, pid in enumerate([None, 4, None, None, 5, None])]
    assert decisions == [None] * 6


def test_votes_outside_the_window_do_not_count() -> None:
    policy = VotePolicy(k=3, n=5, window_s=1.0)
    track = Track(1, np.zeros(4), 0.0)
    assert cast_vote(track, 3, 0.9, 0.0, policy) is None
    assert cast_vote(track, 3, 0.9, 0.5, policy) is None
    assert cast_vote(track, 3, 0.9, 2.0, policy) is None  # the first two are too old now
    assert cast_vote(track, 3, 0.9, 2.2, policy) is None
    assert cast_vote(track, 3, 0.9, 2.4, policy) == 3


def test_unknown_streak_and_policy_validation() -> None:
    policy = VotePolicy(k=2, n=3)
    track = Track(1, np.zeros(4), 0.0)
    cast_vote(track, None, 0.1, 0.0, policy)
    assert not unknown_streak(track, policy)
    cast_vote(track, None, 0.1, 0.1, policy)
    assert unknown_streak(track, policy)
    with pytest.raises(ValueError):
        VotePolicy(k=4, n=3)


def test_tracker_keeps_only_recent_tracks_however_long_it_runs() -> None:
    """Hours of faces coming and going (a new face every frame here) leave only the tracks of the last
    max_age_s: the live loop's memory stays bounded."""
    tracker = FaceTracker(max_age_s=1.5)
    rng = np.random.default_rng(0)
    fps = 10.0
    for frame in range(5_000):
        x, y = rng.uniform(0, 1000, size=2)
        tracker.update(np.array([[x, y, x + 40, y + 40]]), frame / fps)
        assert len(tracker.tracks) <= 1.5 * fps + 1
    assert tracker._next_id > 2_500  # the faces were new ones, not one track followed


def test_tracks_are_dropped_when_the_clock_goes_back() -> None:
    """A reopened camera starts its clock at 0: the old tracks must not live on (and lend their names)."""
    tracker = FaceTracker()
    box = np.array([[100, 100, 160, 160]], dtype=np.float32)
    old = tracker.update(box, 3600.0)[0]
    old.decided = 7
    new = tracker.update(box, 0.5)[0]
    assert new.id != old.id and new.decided is None
    assert list(tracker.tracks) == [new.id]
