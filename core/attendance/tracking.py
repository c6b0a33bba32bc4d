"""Face tracks across frames, and the K-of-N vote that turns recognitions into a decision.

A mark needs K agreeing recognitions of the same face track among its last N
(defaults 3 of 5) within a short time window, so one bad frame never marks
anyone. Tracks are kept by greedy IoU association of boxes between frames.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import ConfigError


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box of a (N, 4) and b (M, 4), boxes as x1, y1, x2, y2."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass
class Track:
    id: int
    box: np.ndarray
    last_seen: float
    votes: deque = field(default_factory=deque)  # (time, person_id or None, score)
    decided: int | None = None  # person id once the vote has marked them
    unknown_reported: bool = False
    last_match: Any = None  # the latest recognition (core.gallery.matching.Match), reused between re-checks
    matched_at: float = float("-inf")  # when last_match was computed


class FaceTracker:
    """Greedy IoU tracker: each new box joins the overlapping live track it overlaps most."""

    def __init__(self, iou_threshold: float = 0.3, max_age_s: float = 1.5) -> None:
        self.iou_threshold = iou_threshold
        self.max_age_s = max_age_s
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, boxes: np.ndarray, t: float) -> list[Track]:
        """Assign each box (N, 4) to a track at time t (seconds); returns the tracks in box order. Tracks
        not seen for max_age_s are dropped, and so is every track when the clock went back (a source
        reopened starts its clock again): a stale track must not lend its name to whoever sits there now,
        and the tracks kept stay bounded by the faces of the last max_age_s."""
        self.tracks = {k: tr for k, tr in self.tracks.items() if 0.0 <= t - tr.last_seen <= self.max_age_s}
        live = list(self.tracks.values())
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        assigned: list[Track | None] = [None] * len(boxes)
        if live and len(boxes):
            iou = iou_matrix(boxes, np.stack([tr.box for tr in live]))
            while True:
                i, j = np.unravel_index(np.argmax(iou), iou.shape)
                if iou[i, j] < self.iou_threshold:
                    break
                assigned[i] = live[j]
                iou[i, :] = -1
                iou[:, j] = -1
        out = []
        for box, track in zip(boxes, assigned):
            if track is None:
                track = Track(self._next_id, box, t)
                self.tracks[track.id] = track
                self._next_id += 1
            track.box, track.last_seen = box, t
            out.append(track)
        return out


@dataclass(frozen=True)
class VotePolicy:
    k: int = 3
    n: int = 5
    window_s: float = 3.0

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ConfigError(f"a mark needs K agreeing recognitions among the last N, with 1 <= K <= N; got K={self.k}, "
                              f"N={self.n} (e.g. -k 3 -n 5)")


def cast_vote(track: Track, person_id: int | None, score: float, t: float, policy: VotePolicy) -> int | None:
    """Record one recognition on a track; returns a person id when K of the last N recognitions
    within the window agree on them (once per track)."""
    track.votes.append((t, person_id, score))
    while len(track.votes) > policy.n or (track.votes and t - track.votes[0][0] > policy.window_s):
        track.votes.popleft()
    if track.decided is not None or person_id is None:
        return None
    agreeing = sum(1 for _, pid, _ in track.votes if pid == person_id)
    if agreeing >= policy.k:
        track.decided = person_id
        return person_id
    return None


def unknown_streak(track: Track, policy: VotePolicy) -> bool:
    """True when the last K recognitions of the track were all 'unknown'."""
    recent = list(track.votes)[-policy.k :]
    return len(recent) == policy.k and all(pid is None for _, pid, _ in recent)
