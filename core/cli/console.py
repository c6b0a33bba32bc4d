"""Terminal helpers for the CLI: progress (a bar at a terminal, periodic lines in a log), yes/no questions and
single key presses."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """Progress on stderr. At a terminal, a bar redrawn in place: `label [#####.....] 12/40 0:07 left`.
    Into a file or pipe (a log, `| tee`), plain lines instead: one at the start, at most one every
    `interval` seconds, and one at the end, each with done/total, the rate and the time left. A total of 0
    means unknown (a camera): the lines then give the count and the rate."""

    def __init__(self, label: str, width: int = 30, *, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic, interval: float = 10.0) -> None:
        self.label = label
        self.width = width
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.interval = interval
        self.start = clock()
        self._last: float | None = None
        self._finished = False
        try:
            self.tty = self.stream.isatty()
        except (AttributeError, ValueError):  # closed or not a real stream
            self.tty = False

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        finished = bool(total) and done >= total
        if self._finished:
            return
        if not finished and self._last is not None and now - self._last < (0.2 if self.tty else self.interval):
            return
        self._last = now
        self._finished = finished
        elapsed = now - self.start
        if self.tty:
            line = "\r" + self._bar(done, total, elapsed) + ("\n" if finished else "")
        else:
            line = self._plain(done, total, elapsed) + "\n"
        try:
            self.stream.write(line)
            self.stream.flush()
        except (OSError, ValueError):  # the reader went away (a closed pipe): progress is not worth failing for
            pass

    def _bar(self, done: int, total: int, elapsed: float) -> str:
        if not total:
            return f"{self.label}: {done} {_clock(elapsed)}"
        filled = int(self.width * min(done, total) / total)
        eta = elapsed / done * (total - done) if done else 0.0
        return f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {_clock(eta)} left"

    def _plain(self, done: int, total: int, elapsed: float) -> str:
        rate = f"{done / elapsed:.1f}/s" if elapsed > 0 and done else "-/s"
        if not total:
            return f"{self.label}: {done} done, {rate}, {_clock(elapsed)} elapsed"
        if done >= total:
            return f"{self.label}: {done}/{total} done in {_clock(elapsed)} ({rate})"
        left = f", {_clock(elapsed / done * (total - done))} left" if done and elapsed > 0 else ""
        return f"{self.label}: {done}/{total} ({100 * done // total}%), {rate}{left}"


def _clock(seconds: float) -> str:
    """0:07, 12:30, 1:02:03."""
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def confirm(question: str, assume_yes: bool = False) -> bool:
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        print(f"{question} [y/N] (not a terminal: answering no; use --yes)", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def read_key() -> str:
    """One key press from the terminal, without waiting for Enter (falls back to a line)."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line[:1] if line else "q"
    if sys.platform == "win32":
        import msvcrt

        return msvcrt.getwch()
    import termios
    import tty

    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        return sys.stdin.read(1)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)
