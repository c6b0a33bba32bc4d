"""Whether recognition keeps up with the camera: the share of frames skipped over the last few seconds,
and when to say so (with hysteresis, so the warning neither flickers nor repeats)."""

from __future__ import annotations

from collections import deque

WINDOW_S = 5.0  # the skipped share is measured over this long
MIN_SPAN_S = 2.0  # and only once this much has been seen (the first frames pay the models' warm-up)
WARN_AT = 0.5  # more than half the frames skipped: people may be marked late or missed
CLEAR_AT = 0.25  # back under a quarter: caught up


class LagMonitor:
    def __init__(self, window_s: float = WINDOW_S, warn_at: float = WARN_AT, clear_at: float = CLEAR_AT) -> None:
        self.window_s, self.warn_at, self.clear_at = window_s, warn_at, clear_at
        self.samples: deque[tuple[float, int]] = deque()  # (time, the source's frame index)
        self.behind = False
        self.skipped = 0.0

    def reset(self) -> None:
        self.samples.clear()
        self.behind, self.skipped = False, 0.0

    def add(self, index: int, t: float) -> str | None:
        """Record a processed frame (its index in the source: skipped frames leave gaps) at time `t`;
        returns "behind" or "caught up" when the state changes, else None."""
        if self.samples and index <= self.samples[-1][1]:  # the source restarted
            self.samples.clear()
        self.samples.append((t, index))
        while t - self.samples[0][0] > self.window_s:
            self.samples.popleft()
        first_t, first_index = self.samples[0]
        if t - first_t < MIN_SPAN_S:
            return None
        self.skipped = 1.0 - len(self.samples) / (index - first_index + 1)
        if not self.behind and self.skipped >= self.warn_at:
            self.behind = True
            return "behind"
        if self.behind and self.skipped <= self.clear_at:
            self.behind = False
            return "caught up"
        return None
