"""Where Rollcall keeps per-user files (caches, data), per platform."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "Rollcall"


def user_cache_dir() -> Path:
    """Folder for files that can be rebuilt (converted weights). `ROLLCALL_CACHE_DIR` overrides it."""
    override = os.environ.get("ROLLCALL_CACHE_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / APP_NAME / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / APP_NAME
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / APP_NAME.lower()


def user_data_dir() -> Path:
    """Folder for the operator's data (database, models). `ROLLCALL_DATA_DIR` overrides it."""
    override = os.environ.get("ROLLCALL_DATA_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / APP_NAME
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP_NAME
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / APP_NAME.lower()
