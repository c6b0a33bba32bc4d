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
