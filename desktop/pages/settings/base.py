"""What the Settings tab's groups share. A group shows its part of `ctx.config` (`load`) and changes it
through `_apply`, which asks for the admin PIN when one is set and `ctx.update_config` validates: a refused change shows its message through the
notifier and every group shows the settings still in force again (`_refuse` does the same for a value
the group itself rejects)."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtWidgets import QGroupBox

from core.errors import RollcallError
from desktop.admin_gate import admin_allows
from desktop.config import DesktopConfig
from desktop.context import AppContext


class SettingsHost(Protocol):
    """The Settings page, as its groups see it."""

    @property
    def busy(self) -> bool:
        """A model switch or a calibration is running."""

    def load_from_config(self) -> None:
        """Every group shows the settings in force."""

    def show_model(self) -> None:
        """The model and threshold groups show the active model."""

    def update_buttons(self) -> None:
        """The buttons that start a model switch or a calibration follow what is running."""


class SettingsGroup(QGroupBox):
    def __init__(self, title: str, ctx: AppContext, host: SettingsHost) -> None:
        super().__init__(title)
        self.ctx = ctx
        self.host = host

    def load(self, config: DesktopConfig) -> None:
        """Show these settings without the widgets' change handlers running (groups with settings fields)."""

    def _apply(self, title: str, **changes: object) -> bool:
        if not admin_allows(self, self.ctx, f"Changing the setting “{title}”"):
            self.host.load_from_config()  # show the settings still in force
            return False
        try:
            self.ctx.update_config(**changes)
        except RollcallError as exc:
            self.ctx.notifier.exception(title, exc)
            self.host.load_from_config()  # show the settings still in force
            return False
        self.ctx.notifier.info("Settings saved", title)
        return True

    def _refuse(self, title: str, message: str) -> bool:
        self.ctx.notifier.error(title, message)
        self.host.load_from_config()
        return False
