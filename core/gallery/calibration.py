"""Threshold calibration from labelled embeddings: genuine and impostor score distributions,
FAR/FRR over thresholds, and the threshold that meets a target false-accept rate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_IMPOSTOR_PAIRS = 2_000_000
MAX_SAMPLES = 20_000


@dataclass(frozen=True)
class Calibration:
    threshold: float
    target_far: float
    far: float  # false-accept rate at the threshold (impostor pairs accepted)
    frr: float  # false-reject rate at the threshold (genuine pairs rejected)
    genuine_pairs: int
    impostor_pairs: int
    curve_thresholds: np.ndarray
    curve_far: np.ndarray
    curve_frr: np.ndarray


def far_frr_curve(genuine: np.ndarray, impostor: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False-accept and false-reject rates at each threshold (accept when score >= threshold)."""
    genuine = np.sort(np.asarray(genuine, dtype=np.float64))
    impostor = np.sort(np.asarray(impostor, dtype=np.float64))
    t = np.asarray(thresholds, dtype=np.float64)
    far = 1.0 - np.searchsorted(impostor, t, side="left") / max(len(impostor), 1)
    frr = np.searchsorted(genuine, t, side="left") / max(len(genuine), 1)
    return far, frr


def pair_scores(labels: np.ndarray, embeddings: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cosine scores of every same-label pair (genuine) and of different-label pairs (impostor;
    a random subset when there are more than MAX_IMPOSTOR_PAIRS)."""
    labels = np.asarray(labels)
    x = np.asarray(embeddings, dtype=np.float32)
    rng = np.random.default_rng(seed)
    if len(x) > MAX_SAMPLES:  # all pairs grow quadratically: calibrate on a random subset
        pick = np.sort(rng.choice(len(x), MAX_SAMPLES, replace=False))
        labels, x = labels[pick], x[pick]
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    n = len(x)
    genuine, impostor = [], []
    total_impostor = n * (n - 1) // 2 - sum(c * (c - 1) // 2 for c in np.unique(labels, return_counts=True)[1])
    keep_fraction = min(1.0, MAX_IMPOSTOR_PAIRS / max(total_impostor, 1))
    chunk = 2048
    for start in range(0, n, chunk):
        block = x[start : start + chunk] @ x.T
        rows = np.arange(start, min(start + chunk, n))
        upper = np.arange(n)[None, :] > rows[:, None]
        same = labels[rows][:, None] == labels[None, :]
        genuine.append(block[upper & same])
        diff = block[upper & ~same]
        if keep_fraction < 1.0:
            diff = diff[rng.random(len(diff)) < keep_fraction]
        impostor.append(diff)
    return _joined(genuine), _joined(impostor)


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)


def threshold_for_far(impostor: np.ndarray, target_far: float) -> float:
    """Lowest threshold accepting at most `target_far` of the impostor scores (accept when score >= t)."""
    imp = np.sort(np.asarray(impostor, dtype=np.float64))[::-1]
    if len(imp) == 0:
        raise ValueError("no impostor pairs: enrol at least two people")
    allowed = int(np.floor(target_far * len(imp)))
    if allowed >= len(imp):
        return float(imp[-1])
    return float(np.nextafter(imp[allowed], np.inf))


def calibrate(labels: np.ndarray, embeddings: np.ndarray, target_far: float = 1e-3) -> Calibration:
    genuine, impostor = pair_scores(labels, embeddings)
    if len(genuine) == 0:
        raise ValueError("no genuine pairs: calibration needs people with at least two samples")
    t = threshold_for_far(impostor, target_far)
    grid = np.linspace(-0.2, 1.0, 241)
    far_curve, frr_curve = far_frr_curve(genuine, impostor, grid)
    far_at, frr_at = far_frr_curve(genuine, impostor, np.array([t]))
    return Calibration(t, target_far, float(far_at[0]), float(frr_at[0]), len(genuine), len(impostor),
                       grid, far_curve, frr_curve)


@dataclass(frozen=True)
class TemplateTrials:
    """Probe-against-template scores, as the gallery compares them (a template is the normalised mean
    of a person's enrolled samples): genuine (a probe of the person not among the template's samples),
    impostor (a probe of anyone else), and, against a gallery of one template per person, the genuine
    probe's own score and the best other person's score (top-1 minus top-2, for the margin)."""

    genuine: np.ndarray
    impostor: np.ndarray
    own: np.ndarray  # per (genuine probe, gallery draw): the score against the person's own template
    best_other: np.ndarray  # ... the best score against everybody else's
    second_other: np.ndarray  # ... and the second best (top-2 of the probe as a stranger to the others)
    templates: int
    people: int


def template_trials(labels: np.ndarray, embeddings: np.ndarray, enroll: int = 3, per_person: int = 5,
                    seed: int = 0, probes: np.ndarray | None = None) -> TemplateTrials:
    """Scores of probes against templates of `enroll` samples each, up to `per_person` templates per
    person from disjoint samples (people with fewer than enroll + 1 samples get none). `probes`
    (rows matching `embeddings`, e.g. the same photos degraded) replaces the probe side."""
    labels = np.asarray(labels)
    x = _unit(embeddings)
    q = _unit(probes) if probes is not None else x
    rng = np.random.default_rng(seed)
    owners, members, rows = [], [], []
    for person in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == person))
        for k in range(min(per_person, (len(idx) - 1) // enroll)):
            chosen = idx[k * enroll:(k + 1) * enroll]
            owners.append(person)
            members.append(set(chosen.tolist()))
            rows.append(x[chosen].mean(axis=0))
    if len(set(owners)) < 2:
        raise ValueError(f"templates need at least two people with {enroll + 1} or more samples")
    templates = _unit(np.stack(rows))
    owners_arr = np.array(owners)
    sims = q @ templates.T  # (probes, templates)
    same = labels[:, None] == owners_arr[None, :]
    inside = np.zeros_like(same)
    for j, m in enumerate(members):
        inside[list(m), j] = True
    genuine, impostor = sims[same & ~inside], sims[~same]
    draw = np.array([owners[:j].count(o) for j, o in enumerate(owners)])  # a person's k-th template: draw k
    own, best_other, second_other = [], [], []
    for g in range(int(draw.max()) + 1):
        cols = np.flatnonzero(draw == g)
        col_owner = owners_arr[cols]
        for i in range(len(q)):
            mine = cols[col_owner == labels[i]]
            if len(mine) == 0 or inside[i, mine[0]]:
                continue
            top2 = np.sort(sims[i, cols[col_owner != labels[i]]])[-2:]
            own.append(sims[i, mine[0]])
            best_other.append(top2[-1])
            second_other.append(top2[0] if len(top2) > 1 else -1.0)
    as64 = lambda v: np.asarray(v, dtype=np.float64)  # noqa: E731
    return TemplateTrials(as64(genuine), as64(impostor), as64(own), as64(best_other), as64(second_other),
                          len(templates), len(set(owners)))


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
