"""One place where every error and notice for the operator arrives, whichever thread raised it.

Workers and background tasks never show anything themselves: they hand
exceptions or messages here (through signals, so from any thread), and the
main window shows them in its notification bar. `history` keeps what was said,
for the log panel and for tests.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from core.errors import RollcallError

logger = logging.getLogger(__name__)

LEVELS = ("info", "warning", "error")


@dataclass(frozen=True)
class Notice:
    level: str  # info, warning, error
    title: str
    text: str


class Notifier(QObject):
    posted = Signal(object)  # Notice; emitted in the GUI thread
    _incoming = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.history: list[Notice] = []
        # Queued to the notifier's own (GUI) thread whichever thread calls post().
        self._incoming.connect(self._deliver)

    def post(self, level: str, title: str, text: str) -> None:
        if level not in LEVELS:
            raise ValueError(f"unknown notice level '{level}'")
        self._incoming.emit(Notice(level, title, text))

    def info(self, title: str, text: str = "") -> None:
        self.post("info", title, text)

    def warning(self, title: str, text: str) -> None:
        self.post("warning", title, text)

    def error(self, title: str, text: str) -> None:
        self.post("error", title, text)

    def exception(self, title: str, exc: BaseException) -> None:
        """An exception as the operator should read it: Rollcall's own errors are written for them;
        anything else is a bug, logged with its traceback and reported as unexpected."""
        if isinstance(exc, RollcallError):
            self.error(title, str(exc))
        else:
            logger.error("%s", title, exc_info=(type(exc), exc, exc.__traceback__))
            self.error(title, f"Unexpected error ({type(exc).__name__}: {exc}). Details are in the log.")

    def _deliver(self, notice: Notice) -> None:
        self.history.append(notice)
        log = logger.error if notice.level == "error" else logger.warning if notice.level == "warning" else logger.info
        log("%s: %s", notice.title, notice.text)
        self.posted.emit(notice)
