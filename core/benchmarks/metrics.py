"""Verification metrics on pair scores (higher score = more likely the same person).

Protocol as in face-verification benchmarks: 10-fold accuracy where each
fold's threshold is chosen on the other nine folds, TAR at a fixed FAR, and
ROC AUC. Folds are stratified and deterministic: the i-th genuine pair and
the i-th impostor pair both go to fold i mod k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KFoldResult:
    accuracy: float
    accuracy_std: float
    thresholds: list[float]
    fold_accuracies: list[float]


def stratified_folds(labels: np.ndarray, k: int = 10) -> np.ndarray:
    labels = np.asarray(labels).astype(bool)
    folds = np.empty(len(labels), dtype=int)
    for value in (True, False):
        idx = np.flatnonzero(labels == value)
        folds[idx] = np.arange(len(idx)) % k
    return folds


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Threshold (predict same when score >= t) with the highest accuracy, and that accuracy.

    Candidates are midpoints between consecutive distinct scores plus both ends,
    so the optimum is exact rather than limited to a grid.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    order = np.argsort(scores)
    s, y = scores[order], labels[order]
    n = len(s)
    # Predicting "same" for items at index >= i: correct = negatives below i + positives from i on.
    neg_below = np.concatenate([[0], np.cumsum(~y)])
    pos_from = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    correct = neg_below + pos_from
    # Only cut between distinct values.
    valid = np.ones(n + 1, dtype=bool)
    valid[1:n] = s[1:] != s[:-1]
    best = int(np.argmax(np.where(valid, correct, -1)))
    if best == 0:
        t = s[0] - 1e-6
    elif best == n:
        t = s[-1] + 1e-6
    else:
        t = (s[best - 1] + s[best]) / 2.0
    return float(t), float(correct[best] / n)


def kfold_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 10) -> KFoldResult:
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    folds = stratified_folds(labels, k)
    accs, thresholds = [], []
    for f in range(k):
        test = folds == f
        t, _ = best_threshold(scores[~test], labels[~test])
        accs.append(float(((scores[test] >= t) == labels[test]).mean()))
        thresholds.append(t)
    return KFoldResult(float(np.mean(accs)), float(np.std(accs)), thresholds, accs)


def tar_at_far(scores: np.ndarray, labels: np.ndarray, far: float = 1e-2) -> tuple[float, float]:
    """(TAR, threshold) at the lowest threshold whose false-accept rate is at most `far`."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    neg = np.sort(scores[~labels])[::-1]
    allowed = int(np.floor(far * len(neg)))  # impostor pairs that may be accepted
    if allowed >= len(neg):
        t = float(neg[-1])
    else:
        # accept strictly above the (allowed+1)-th highest impostor score
        t = float(np.nextafter(neg[allowed], np.inf))
    tar = float((scores[labels] >= t).mean())
    return tar, t


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a random genuine pair outscores a random impostor pair (ties count half)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    s = scores[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs both genuine and impostor pairs")
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
