"""The match threshold policy: how rare a false mark must be, turned into a threshold for this gallery.

A stranger in front of the camera is compared with every enrolled person. Looks within one session are
strongly correlated, so a session counts, conservatively, as one look: P(false mark) ~ enrolled x FAR(t),
where FAR(t) is the share of impostor comparisons (a stranger's face against an enrolled person's
template) scoring at least t. The operator picks "a stranger is marked in at most 1 of N sessions"
(N in SESSIONS_CHOICES), so t = table.threshold_at(1 / (N x enrolled)): it rises as people are enrolled.

FAR(t) comes from a per-model `ImpostorTable` measured on identity-disjoint photos
(bench/impostor_table.py, shipped in core.gallery.impostor_tables). A site's own gallery (impostor pairs
of its enrolled samples) refines it only when it has at least SITE_PAIRS_PER_FAR / FAR pairs, enough to
see that tail; with fewer it may only raise the threshold. A threshold set by hand still wins, reported
as such. `confidence` is the operator's 0-100 scale, calibrated by the same table (50 = the bar).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from core.errors import RollcallError
from core.gallery.calibration import pair_scores, threshold_for_far
from core.gallery.records import rows

if TYPE_CHECKING:
    from core.gallery.store import Gallery, ModelRecord
    from core.storage.db import Database

logger = logging.getLogger(__name__)

SESSIONS_CHOICES = (100, 1000, 10000)  # "a stranger is marked in at most 1 of N sessions"
# The default, chosen on the training people (celeba76, bench/openset.py): at 1 in 100 sessions dlib marked
# 90 % of enrolled people's sessions and no stranger in 380 sessions (1 in 1,000: 79 % and none), and the
# hamilton clip's two people are marked and nobody else; the bound itself is conservative (a session counts
# as one look). Sites that want more margin choose 1 in 1,000 or 10,000 in Settings.
DEFAULT_SESSIONS = 100
SESSIONS_SETTING = "policy.sessions_per_false_mark"  # core.storage.db settings key
SITE_PAIRS_PER_FAR = 10  # a site's impostor pairs may lower the threshold only when n >= 10 / FAR
TAIL_PAIRS = 10  # a table point needs at least this many impostor comparisons above its threshold
GRID_STEPS_PER_DECADE = 4
GRID_TOP_FAR = 1e-1
MIN_TAIL_SLOPE = 0.002  # cosine per decade: the least the extrapolated threshold rises below the table
FALLBACK_MARGIN = 0.005  # top-1 minus top-2 for models without a table
CONFIDENCE_DECADES = 3  # 100 on the scale: a stranger scores this high 1,000x less often than at the bar
SOURCES = ("table", "site", "manual", "model default")


class PolicyError(RollcallError):
    """The threshold policy cannot be applied as asked (no table nor default, an unknown choice)."""


@dataclass(frozen=True)
class ImpostorTable:
    """A model's impostor score distribution on one route: (per-comparison FAR, threshold) points on a
    log grid, FAR falling and thresholds rising, down to the smallest FAR the comparisons support."""

    model: str  # Embedder.identity (the gallery's ModelRecord.file_hash)
    name: str
    dim: int
    route: str  # "direct" | "small" (faces through the small-face route)
    points: tuple[tuple[float, float], ...]
    comparisons: int  # impostor comparisons measured
    max_score: float  # the highest of them
    margin: float  # top-1 minus top-2 a match must reach on this model (bench/impostor_table.py)
    measured_on: str = ""

    def __post_init__(self) -> None:
        fars = [p[0] for p in self.points]
        ts = [p[1] for p in self.points]
        if len(self.points) < 2 or any(a <= b for a, b in zip(fars, fars[1:])) or any(
                a >= b for a, b in zip(ts, ts[1:])):
            raise PolicyError(f"the impostor table of {self.name} ({self.route}) needs two or more points with "
                              f"FAR falling and thresholds rising; regenerate it with bench/impostor_table.py")

    @classmethod
    def from_scores(cls, score_sets: list[np.ndarray], **fields_: object) -> ImpostorTable:
        """A table from one or more impostor score sets: at each grid FAR the highest threshold of the
        sets; the grid stops where one of them has fewer than TAIL_PAIRS / FAR scores (a set must not
        lose its say in the tail); thresholds rounded to 6 decimals and made strictly rising."""
        sets = [np.asarray(s, dtype=np.float64) for s in score_sets if len(s)]
        if not sets:
            raise PolicyError("an impostor table needs impostor scores")
        points: list[tuple[float, float]] = []
        k = round(-math.log10(GRID_TOP_FAR) * GRID_STEPS_PER_DECADE)
        while True:
            far = 10.0 ** (-k / GRID_STEPS_PER_DECADE)
            if any(len(s) * far < TAIL_PAIRS for s in sets):
                break
            t = round(max(threshold_for_far(s, far) for s in sets), 6)
            if points and t <= points[-1][1]:
                t = round(points[-1][1] + 1e-6, 6)
            points.append((float(f"{far:.6g}"), t))
            k += 1
        return cls(points=tuple(points), comparisons=max(len(s) for s in sets),
                   max_score=float(max(s.max() for s in sets)), **fields_)  # type: ignore[arg-type]

    @property
    def min_far(self) -> float:
        """The smallest FAR measured; below it thresholds are extrapolated (`threshold_at`)."""
        return self.points[-1][0]

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.log10([p[0] for p in self.points]), np.array([p[1] for p in self.points])

    def _tail_slope(self) -> float:
        """Cosine per decade below the table: the steeper of its last decade and its last two, at least
        MIN_TAIL_SLOPE.
        Impostor cosine tails fall faster than exponentially (the threshold gains less per decade the
        deeper it goes), so carrying the last measured slope on over-estimates the threshold: safe."""
        logf, ts = self._arrays()
        slopes = []
        for decades in (1, 2):
            above = logf[-1] + decades
            if above <= logf[0]:
                slopes.append((ts[-1] - np.interp(-above, -logf, ts)) / decades)
        return max([MIN_TAIL_SLOPE, *slopes])

    def threshold_at(self, far: float) -> float:
        """The threshold at which at most `far` of the impostor comparisons score as high: interpolated in
        log FAR; above the table its first threshold; below it extrapolated by `_tail_slope`, at most 1.
        (`max_score` is kept for reference, not as a floor: one mislabelled photo sets it.)"""
        if not far > 0:
            raise PolicyError(f"a false-accept rate must be above 0, got {far}")
        logf, ts = self._arrays()
        x = math.log10(far)
        if x >= logf[0]:
            return float(ts[0])
        if x >= logf[-1]:
            return float(np.interp(-x, -logf, ts))
        return float(min(ts[-1] + self._tail_slope() * (logf[-1] - x), 1.0))

    def far_at(self, score: float) -> float:
        """The share of impostor comparisons scoring at least `score` (the inverse of `threshold_at`;
        above 1e-1 extrapolated with the first decade's slope), between 1e-12 and 1."""
        logf, ts = self._arrays()
        if score >= ts[-1]:
            x = logf[-1] - (score - ts[-1]) / self._tail_slope()
        elif score >= ts[0]:
            x = float(np.interp(score, ts, logf))
        else:
            span = min(1.0, logf[0] - logf[-1])  # the first decade (or all of a shorter table)
            first_slope = max((np.interp(span - logf[0], -logf, ts) - ts[0]) / span, MIN_TAIL_SLOPE)
            x = logf[0] + (ts[0] - score) / first_slope
        return float(10.0 ** min(max(x, -12.0), 0.0))

    def to_dict(self) -> dict:
        return {"model": self.model, "name": self.name, "dim": self.dim, "route": self.route,
                "points": [list(p) for p in self.points], "comparisons": self.comparisons,
                "max_score": self.max_score, "margin": self.margin, "measured_on": self.measured_on}

    @classmethod
    def from_dict(cls, data: dict) -> ImpostorTable:
        return cls(**{**data, "points": tuple(tuple(p) for p in data["points"])})


@dataclass(frozen=True)
class ThresholdDecision:
    """The threshold and margin in force, and why."""

    threshold: float
    margin: float
    per_comparison_far: float  # the target: 1 / (sessions_per_false_mark x enrolled)
    enrolled: int
    sessions_per_false_mark: int
    source: str  # one of SOURCES
    reason: str
    table: ImpostorTable | None = field(default=None, repr=False, compare=False)  # calibrates `confidence`


def per_comparison_far(sessions_per_false_mark: int, enrolled: int) -> float:
    """The FAR per comparison that keeps a stranger's false mark to 1 in N sessions: 1 / (N x enrolled)."""
    return 1.0 / (sessions_per_false_mark * max(int(enrolled), 1))


def site_pairs_needed(far: float) -> int:
    """Impostor pairs a site's gallery needs before its own scores may lower the threshold at `far`."""
    return math.ceil(SITE_PAIRS_PER_FAR / far - 1e-9)


def check_sessions(sessions_per_false_mark: int) -> int:
    if sessions_per_false_mark not in SESSIONS_CHOICES:
        choices = ", ".join(f"{n:,}" for n in SESSIONS_CHOICES)
        raise PolicyError(f"'a stranger is marked in at most 1 of N sessions' takes N = {choices}; "
                          f"got {sessions_per_false_mark}")
    return int(sessions_per_false_mark)


def decide_threshold(table: ImpostorTable | None, enrolled: int, sessions_per_false_mark: int = DEFAULT_SESSIONS,
                     site_scores: np.ndarray | None = None, manual: float | None = None, *,
                     model_default: float | None = None) -> ThresholdDecision:
    """The threshold for `enrolled` people at 1 false mark in `sessions_per_false_mark` sessions.

    table: the model's impostor table (None: a model without one, then `model_default` is the base);
    site_scores: impostor pair scores of the site's own enrolled samples (core.gallery.calibration);
    manual: a threshold the operator set by hand (it wins)."""
    sessions = check_sessions(sessions_per_false_mark)
    far = per_comparison_far(sessions, enrolled)
    goal = f"1 false mark in {sessions:,} sessions with {max(enrolled, 1):,} enrolled (FAR {far:.1e} per comparison)"
    if table is not None:
        base, source, margin = table.threshold_at(far), "table", table.margin
        reason = f"{table.name}'s impostor table ({table.comparisons:,} comparisons) for {goal}"
        if far < table.min_far:
            reason += f"; extrapolated below its last point ({table.min_far:.0e})"
    elif model_default is not None:
        base, source, margin = float(model_default), "model default", FALLBACK_MARGIN
        reason = f"no impostor table for this model: its default threshold (the target was {goal})"
    else:
        raise PolicyError("this model has neither an impostor table nor a default threshold: set a threshold "
                          "by hand (Settings, or rollcall threshold) or measure one with bench/impostor_table.py")
    threshold = base
    site = np.asarray(site_scores, dtype=np.float64) if site_scores is not None else np.zeros(0)
    if len(site):
        needed, suggested = site_pairs_needed(far), threshold_for_far(site, far)
        if len(site) >= needed:
            threshold, source = suggested, "site"
            reason = f"this gallery's own {len(site):,} impostor pairs (at least {needed:,} needed) for {goal}"
        elif suggested > base:
            threshold, source = suggested, "site"
            reason = (f"raised above the {source_word(table)} {base:.4f}: this gallery's {len(site):,} impostor "
                      f"pairs suggest {suggested:.4f} for {goal} (they may raise it; lowering needs {needed:,})")
        else:
            reason += (f"; this gallery's {len(site):,} impostor pairs suggest {suggested:.4f}, but lowering the "
                       f"threshold needs at least {needed:,}")
    if manual is not None:
        reason = f"set by hand; the policy would use {threshold:.4f} ({source}: {reason})"
        threshold, source = float(manual), "manual"
    return ThresholdDecision(float(threshold), float(margin), far, int(enrolled), sessions, source, reason, table)


def source_word(table: ImpostorTable | None) -> str:
    return "impostor table's" if table is not None else "model's default"


def confidence(score: float, decision: ThresholdDecision) -> int:
    """The operator's scale, 0-100: 50 is the bar (the threshold), at or above 50 the face passes it.
    With a table: 50 + 50 x clip(log10(FAR(bar) / FAR(score)) / 3, -1, 1), so 100 means a stranger
    scores this high 1,000x less often than at the bar and 0 1,000x more often. Without one, linear
    in the cosine between the bar and 1 (above) or -1 (below). A score that is not a number gives 0."""
    if not math.isfinite(score):
        return 0
    bar = decision.threshold
    if decision.table is not None:
        x = math.log10(decision.table.far_at(bar) / decision.table.far_at(score)) / CONFIDENCE_DECADES
    else:
        x = (score - bar) / (1.0 - bar) if score >= bar else (score - bar) / (bar + 1.0)
    value = int(round(50 + 50 * min(max(x, -1.0), 1.0)))
    return max(value, 50) if score >= bar else min(value, 49)


# ------------------------------------------------------------------ the gallery's decision

_TABLES: dict[tuple[str, str], ImpostorTable] = {}


def table_for(model: str, route: str = "direct") -> ImpostorTable | None:
    """The shipped impostor table of a model (by Embedder.identity) on a route, None when there is none."""
    key = (model, route)
    if key not in _TABLES:
        from core.gallery.impostor_tables import TABLES
        if key not in TABLES:
            return None
        _TABLES[key] = ImpostorTable.from_dict(TABLES[key])
    return _TABLES[key]


def register_table(table: ImpostorTable) -> None:
    """Use `table` for its model and route from now on (benchmarks of test weights whose tables stay in
    bench/results rather than in core.gallery.impostor_tables)."""
    _TABLES[(table.model, table.route)] = table


def read_sessions(db: Database) -> int:
    """The operator's "1 false mark in N sessions" from the database settings (DEFAULT_SESSIONS when
    unset; a stored value that is not one of the choices is logged and the default used)."""
    stored = db.get_setting(SESSIONS_SETTING)
    if stored is None:
        return DEFAULT_SESSIONS
    try:
        return check_sessions(int(stored))
    except (ValueError, PolicyError):
        logger.warning("the stored setting %s=%r is not one of %s; using %d", SESSIONS_SETTING, stored,
                       SESSIONS_CHOICES, DEFAULT_SESSIONS)
        return DEFAULT_SESSIONS


def write_sessions(db: Database, sessions_per_false_mark: int) -> int:
    value = check_sessions(sessions_per_false_mark)
    with db.transaction():
        db.set_setting(SESSIONS_SETTING, str(value))
    return value


def enrolled_count(gallery: Gallery, model_id: int) -> int:
    """People with a template for the model (those a face is compared with)."""
    return int(rows(gallery.db, "SELECT COUNT(*) AS n FROM templates WHERE model_id = ?", (model_id,))[0]["n"])


def site_impostor_scores(gallery: Gallery, model_id: int) -> np.ndarray:
    """Cosine scores of the pairs of enrolled samples of different people (core.gallery.calibration)."""
    labels, embeddings = gallery.sample_embeddings(model_id)
    if len(np.unique(labels)) < 2:
        return np.zeros(0)
    return pair_scores(labels, embeddings)[1]


def family_default(model: ModelRecord) -> float:
    """The model's default threshold: the one stored with it unless it was calibrated on the site's
    pairs (the policy weighs those itself, `decide_threshold`), then its family's."""
    from core.vision.models.registry import ARCHITECTURES
    family = ARCHITECTURES.get(model.arch)
    if model.threshold_origin == "default" or family is None:
        return float(model.threshold)
    return float(family.default_threshold)


def gallery_decision(gallery: Gallery, model: ModelRecord | None = None, *, route: str = "direct",
                     enrolled: int | None = None) -> ThresholdDecision | None:
    """The decision for a gallery's model (default: the active one; None when it has none): its shipped
    table for `route` (the direct one when that route has none), the people enrolled, the operator's
    choice in the settings, the site's own impostor pairs, and a threshold set by hand."""
    model = model if model is not None else gallery.active_model()
    if model is None:
        return None
    table = table_for(model.file_hash, route) or table_for(model.file_hash, "direct")
    count = enrolled if enrolled is not None else enrolled_count(gallery, model.id)
    manual = model.threshold if model.threshold_origin == "manual" else None
    decision = decide_threshold(table, count, read_sessions(gallery.db), site_impostor_scores(gallery, model.id),
                                manual, model_default=family_default(model))
    if table is not None and table.route != route:
        decision = dataclasses.replace(decision, reason=f"{decision.reason} (no table for the {route} route: the "
                                                      f"direct faces' table is used)")
    return decision

