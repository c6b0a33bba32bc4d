"""Terminal helpers for the CLI: a progress bar, yes/no questions and single key presses."""

from __future__ import annotations

import sys
import time


class Progress:
    """A one-line progress bar on stderr: `label [#####.....] 12/40 0:07 left`."""

    def __init__(self, label: str, width: int = 30) -> None:
        self.label = label
        self.width = width
        self.start = time.monotonic()
        self._last = 0.0
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < 0.2:
            return
        self._last = now
        total = max(total, 1)
        filled = int(self.width * done / total)
        elapsed = now - self.start
        eta = elapsed / done * (total - done) if done else 0.0
        line = f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {int(eta) // 60}:{int(eta) % 60:02d} left"
        if self.tty:
            sys.stderr.write("\r" + line + ("\n" if done >= total else ""))
        elif done >= total or done == 0:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


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
