"""Face verification on a pairs file: reading the pairs, scoring them, and the usual metrics.

A pairs benchmark folder (e.g. ../shared/bench/celeba) holds `images/` and
`pairs.txt`, one pair a line: `image_a image_b 1|0` (1: the same person;
lines starting with `#` are comments). Each image is represented by its
largest face; a pair with an image where no face was found gets the lowest
possible score (it counts as "different"), so missed faces cost accuracy
instead of being skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import BenchmarkDataError
from core.benchmarks.metrics import kfold_accuracy, roc_auc, tar_at_far

PAIRS_FILENAME = "pairs.txt"
IMAGES_DIRNAME = "images"
FOLDS = 10
PAIRS_FORMAT = "one pair a line: 'image_a image_b 1' (same person) or 'image_a image_b 0' (different)"

Pairs = list[tuple[str, str]]


def is_pairs_benchmark(data: str | Path) -> bool:
    """Whether `data` looks like a pairs benchmark folder (it has a pairs.txt)."""
    return (Path(data) / PAIRS_FILENAME).is_file()


def read_pairs(data: str | Path) -> tuple[Pairs, np.ndarray]:
    """The pairs of DATA/pairs.txt and their labels (True: the same person)."""
    path = Path(data) / PAIRS_FILENAME
    if not path.is_file():
        raise BenchmarkDataError(f"{Path(data)} has no {PAIRS_FILENAME}. A pairs benchmark folder holds "
                                 f"{IMAGES_DIRNAME}/ and {PAIRS_FILENAME} ({PAIRS_FORMAT}); check the data path.")
    pairs, labels = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) != 3 or parts[2] not in ("0", "1"):
            raise BenchmarkDataError(f"{path}, line {number}: expected {PAIRS_FORMAT}, got {line.strip()!r}. "
                                     f"Fix or remove that line.")
        pairs.append((parts[0], parts[1]))
        labels.append(parts[2] == "1")
    if not pairs:
        raise BenchmarkDataError(f"{path} lists no pairs: add lines of the form {PAIRS_FORMAT}.")
    return pairs, np.array(labels, dtype=bool)


def limit_pairs(pairs: Pairs, labels: np.ndarray, limit: int | None) -> tuple[Pairs, np.ndarray]:
    """The first limit // 2 genuine and the first limit - limit // 2 impostor pairs, in file order
    (all pairs when `limit` is 0 or None): quick smoke runs on a fixed subset."""
    if not limit:
        return pairs, labels
    keep = np.sort(np.concatenate([np.flatnonzero(labels)[: limit // 2],
                                   np.flatnonzero(~labels)[: limit - limit // 2]]))
    return [pairs[i] for i in keep], labels[keep]


def check_pair_counts(labels: np.ndarray, where: str | Path) -> None:
    """The metrics need both kinds of pair, and enough of one kind that no fold is empty."""
    genuine, impostor = int(labels.sum()), int((~labels).sum())
    if genuine == 0 or impostor == 0 or max(genuine, impostor) < FOLDS:
        raise BenchmarkDataError(
            f"{where}: {genuine} genuine and {impostor} impostor pair(s) selected; {FOLDS}-fold accuracy needs "
            f"both kinds and at least {FOLDS} of one kind. Use more pairs (a larger limit, or none).")


def image_names(pairs: Pairs) -> list[str]:
    """Every image that some pair uses, sorted."""
    return sorted({name for pair in pairs for name in pair})


def check_images_exist(data: str | Path, names: list[str]) -> None:
    """Every listed image is a file under DATA/images/, else one error naming the missing ones."""
    folder = Path(data) / IMAGES_DIRNAME
    if not folder.is_dir():
        raise BenchmarkDataError(f"{Path(data)} has no {IMAGES_DIRNAME}/ folder: a pairs benchmark folder holds "
                                 f"the images that {PAIRS_FILENAME} names in {IMAGES_DIRNAME}/.")
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise BenchmarkDataError(f"{len(missing)} image(s) listed in {Path(data) / PAIRS_FILENAME} are not in "
                                 f"{folder}: {shown}. Copy them there or remove their pairs.")


def largest_face(faces: list):
    """The face with the largest box (what represents an image), or None when there is none."""
    if not faces:
        return None
    return max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))


def score_pairs(embeddings: dict, pairs: Pairs, metric: str = "cosine") -> np.ndarray:
    """One score per pair, higher = more alike: cosine (unit vectors) or minus the Euclidean distance.
    A pair with a missing embedding (None) scores below every other pair."""
    scores = np.empty(len(pairs))
    for i, (a, b) in enumerate(pairs):
        ea, eb = embeddings[a], embeddings[b]
        if ea is None or eb is None:
            scores[i] = -np.inf
        elif metric == "cosine":
            scores[i] = float(np.dot(ea, eb))
        else:  # dlib's convention: Euclidean distance, smaller = same
            scores[i] = -float(np.linalg.norm(ea - eb))
    finite = scores[np.isfinite(scores)]
    floor = (finite.min() - 1.0) if finite.size else -1.0
    scores[~np.isfinite(scores)] = floor
    return scores


def pair_metrics(scores: np.ndarray, labels: np.ndarray) -> dict:
    """10-fold accuracy (and its std), TAR at FAR = 1e-2 and ROC AUC, rounded to 4 decimals."""
    kf = kfold_accuracy(scores, labels, FOLDS)
    tar, _ = tar_at_far(scores, labels, 1e-2)
    return {
        "accuracy": round(kf.accuracy, 4),
        "accuracy_std": round(kf.accuracy_std, 4),
        "tar_at_far_1e-2": round(tar, 4),
        "auc": round(roc_auc(scores, labels), 4),
    }
