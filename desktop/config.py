"""The desktop app's settings: a frozen dataclass, validated, stored as JSON in the user data folder.

Unknown keys are rejected with the file named, so a typo never silently falls
back to a default. Saving writes a temporary file and renames it, so a crash
never leaves half a settings file. The gallery's active model and threshold
live in the database (they belong with the embeddings), not here.

The engine's settings (detector, face size, device, small-face route) are
`core.service.EngineSettings`, which validates them; the file keeps them flat
beside the app's own fields (source, pace, data folder, operator, unknown
faces, kiosk PIN), as it always did, and `config.engine` gives them typed. Files saved
before the small-face settings existed load with the route off.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError
from core.attendance.grabber import PACES
from core.gallery.records import MAX_NAME_CHARS, GalleryError, clean_text
from core.paths import user_data_dir
from core.service.settings import EngineSettings, field_names, strict_from_dict

CONFIG_FILENAME = "desktop.json"
ENGINE_FIELDS = field_names()


def default_operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some service accounts)
        return ""


@dataclass(frozen=True)
class DesktopConfig:
    source: str = "0"  # camera index, video file or stream URL
    file_pace: str = "realtime"  # video files: "realtime" (like a camera) or "every_frame"
    detector: str = "mtcnn"  # engine: "mtcnn" or "yunet:PATH_TO_ONNX"
    min_face_size: int = 20  # engine: smallest face searched for, in pixels
    device: str = "cpu"  # engine: "cpu", "cuda" or "auto"
    data_folder: str = ""  # where rollcall.db lives; empty: the user data folder
    operator: str = dataclasses.field(default_factory=default_operator)  # named in manual marks
    record_unknown: bool = False  # keep crops of faces nobody matched (for review)
    sr_model: str = ""  # engine: DSR checkpoint for small faces; empty: bicubic upscaling
    # engine: super-resolve faces narrower than this many pixels; 0: off; None: automatic (on, at the default
    # width, whenever a DSR model is installed). Files saved before "automatic" existed keep their 0 (off).
    sr_below_px: int | None = None
    backend: str = "auto"  # engine: how faces are embedded on the CPU: "auto" (ONNX Runtime when it matches torch), "torch", "onnx"
    kiosk_pin: str = ""  # digits the operator types to leave the kiosk view; empty: Esc leaves at once
    unknown_retention_days: int = 30  # kept unknown faces older than this are purged; 0: kept until deleted

    def __post_init__(self) -> None:
        # the operator's name is stored in every manual mark: one line, no control characters (a hand-edited file)
        if isinstance(self.operator, str):
            try:
                object.__setattr__(self, "operator", clean_text(self.operator, "the operator's name", max_chars=MAX_NAME_CHARS))
            except GalleryError as exc:
                raise ConfigError(str(exc)) from None
        if self.file_pace not in PACES:
            raise ConfigError(f"file_pace must be one of {', '.join(PACES)}, got '{self.file_pace}'")
        if self.kiosk_pin and not self.kiosk_pin.isdigit():
            raise ConfigError("the kiosk PIN must be digits only (or empty: Esc leaves the kiosk view)")
        if not 0 <= self.unknown_retention_days <= 3650:
            raise ConfigError("keep unknown faces for 0 (until deleted) to 3650 days")
        if not str(self.source).strip():
            raise ConfigError("the source is empty: give a camera number, a video file or a stream URL")
        _ = self.engine  # validates the engine's fields (core.service.EngineSettings)

    @property
    def engine(self) -> EngineSettings:
        """The settings of the recognition engine, typed and validated."""
        return EngineSettings(**{name: getattr(self, name) for name in ENGINE_FIELDS})

    @property
    def db_path(self) -> Path:
        return Path(self.data_folder or user_data_dir()) / "rollcall.db"

    def replace(self, **changes: object) -> DesktopConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict, origin: str = "settings") -> DesktopConfig:
        return strict_from_dict(cls, data, origin)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def config_path() -> Path:
    return user_data_dir() / CONFIG_FILENAME


def load_config(path: Path | None = None) -> DesktopConfig:
    """The saved settings, or the defaults when there is no file yet."""
    path = path or config_path()
    if not path.exists():
        return DesktopConfig()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"Cannot read the settings file {path}: {exc}. Fix or delete it to start "
                          f"with the default settings.") from None
    return DesktopConfig.from_dict(data, origin=f"settings file {path}")


def save_config(config: DesktopConfig, path: Path | None = None) -> Path:
    path = path or config_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"Cannot save the settings to {path}: {exc.strerror or exc}") from None
    return path
