"""Applies the retention of kept unknown faces (`config.unknown_retention_days`; 0 keeps them): when
the database is opened, when the setting or the database changes, and once a day while the app runs.
The service logs how many were purged."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from core.errors import RollcallError

if TYPE_CHECKING:
    from desktop.context import AppContext

logger = logging.getLogger(__name__)

DAY_MS = 24 * 60 * 60 * 1000


class RetentionKeeper(QObject):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.ctx = ctx
        self.purged = 0  # by the last run
        self._applied_for: tuple | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(DAY_MS)
        self.timer.timeout.connect(self.apply)
        self.timer.start()
        ctx.config_changed.connect(self._settings_changed)
        self.apply()

    def _settings_changed(self) -> None:
        if self._applied_for != self._key():
            self.apply()

    def _key(self) -> tuple:
        return self.ctx.config.unknown_retention_days, str(self.ctx.service.path)

    def apply(self) -> int:
        """Purge now; how many kept faces were deleted (a failure is logged, never raised)."""
        self._applied_for = self._key()
        try:
            self.purged = self.ctx.service.apply_retention(self.ctx.config.unknown_retention_days)
        except RollcallError as exc:
            logger.warning("the unknown faces' retention could not be applied: %s", exc)
            self.purged = 0
        return self.purged
