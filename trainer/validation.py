"""What the training jobs share in validation: the fixed random stream of the validation degradations, and
verification on pairs of validation faces (the low-res benchmark's protocol on the people validated on)."""

from __future__ import annotations

import numpy as np
import torch

from core.benchmarks.metrics import kfold_accuracy

VAL_STREAM = 7_919  # a fixed sub-stream for validation degradations and pairs, never used by training steps


def verification_pairs(subjects: list[str], seed: int, max_pairs: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) of validation faces: every same-person pair (at most max_pairs / 2, a seeded
    choice) and as many different-person pairs, drawn with a fixed seed; and their labels."""
    subjects = np.asarray(subjects)
    i, j = np.triu_indices(len(subjects), k=1)
    same = subjects[i] == subjects[j]
    rng = np.random.default_rng([seed, VAL_STREAM])
    genuine = np.flatnonzero(same)
    genuine = genuine[np.sort(rng.permutation(len(genuine))[:max_pairs // 2])]
    impostor = np.flatnonzero(~same)
    impostor = impostor[np.sort(rng.permutation(len(impostor))[:len(genuine)])]
    picked = np.concatenate([genuine, impostor])
    return np.stack([i[picked], j[picked]], axis=1), same[picked]


def verification_accuracy(hr: torch.Tensor, low: torch.Tensor, pairs: np.ndarray,
                          labels: np.ndarray) -> float | None:
    """10-fold accuracy of pairs scored as cos(HR face i, restored low-res face j), the low-res protocol
    of bench/lowres.py on the validation people; None without both kinds of pair."""
    if len(pairs) < 2 or labels.all() or not labels.any():
        return None
    scores = (hr[pairs[:, 0]] * low[pairs[:, 1]]).sum(1).numpy()
    return kfold_accuracy(scores, labels, k=min(10, int(labels.sum()), int((~labels).sum()))).accuracy
