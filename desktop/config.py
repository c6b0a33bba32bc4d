"""The desktop app's settings: a frozen dataclass, validated, stored as JSON in the user data folder.

Unknown keys are rejected with the file named, so a typo never silently falls
back to a default. Saving writes a temporary file and renames it, so a crash
never leaves half a settings file. The gallery's active model and threshold
live in the database (they belong with the embeddings), not here.

Small faces: with `sr_below_px` > 0, faces narrower than that (the span of the
ArcFace crop, `core.vision.degrade.face_width`) are super-resolved before they are
embedded, by the DSR checkpoint `sr_model`, or bicubically when it is empty.
Files saved before these settings existed load with the route off.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path

from core.errors import ConfigError
from core.attendance.grabber import PACES
from core.paths import user_data_dir

CONFIG_FILENAME = "desktop.json"
DEVICES = ("cpu", "cuda", "auto")
SR_BELOW_PX_RANGE = (12, 200)  # face widths the small-face route can be set to (0 turns it off)
# The width used when the route is switched on without one ("Use this model"). On the validation people of
# the training data (python -m bench.sr_crossover, docs/BENCHMARKS.md) the trained DSR beat direct alignment
# at 12 px and no longer at 16 px, for dlib and for EdgeFace-XS; the DSR's input is 28 px, so wider faces
# lose detail on the way in.
DEFAULT_SR_BELOW_PX = 16


def default_operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some service accounts)
        return ""


@dataclass(frozen=True)
class DesktopConfig:
    source: str = "0"  # camera index, video file or stream URL
    file_pace: str = "realtime"  # video files: "realtime" (like a camera) or "every_frame"
    detector: str = "mtcnn"  # "mtcnn" or "yunet:PATH_TO_ONNX"
    min_face_size: int = 20  # smallest face searched for, in pixels
    device: str = "cpu"  # "cpu", "cuda" or "auto"
    data_folder: str = ""  # where rollcall.db lives; empty: the user data folder
    operator: str = dataclasses.field(default_factory=default_operator)  # named in manual marks
    record_unknown: bool = False  # keep crops of faces nobody matched (for review)
    sr_model: str = ""  # DSR checkpoint for small faces; empty: bicubic upscaling
    sr_below_px: int = 0  # super-resolve faces narrower than this many pixels; 0: off

    def __post_init__(self) -> None:
        if self.file_pace not in PACES:
            raise ConfigError(f"file_pace must be one of {', '.join(PACES)}, got '{self.file_pace}'")
        if not (self.detector == "mtcnn" or self.detector.startswith("yunet:")):
            raise ConfigError(f"detector must be 'mtcnn' or 'yunet:PATH', got '{self.detector}'")
        if self.detector.startswith("yunet:") and not self.detector[6:].strip():
            raise ConfigError("the YuNet detector needs its .onnx file: 'yunet:PATH'")
        if not 12 <= self.min_face_size <= 1000:
            raise ConfigError(f"min_face_size must be between 12 and 1000 pixels, got {self.min_face_size}")
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got '{self.device}'")
        if not str(self.source).strip():
            raise ConfigError("the source is empty: give a camera number, a video file or a stream URL")
        low, high = SR_BELOW_PX_RANGE
        if self.sr_below_px != 0 and not low <= self.sr_below_px <= high:
            raise ConfigError(f"sr_below_px must be 0 (small faces are not super-resolved) or a face width "
                              f"between {low} and {high} pixels, got {self.sr_below_px}")

    @property
    def db_path(self) -> Path:
        return Path(self.data_folder or user_data_dir()) / "rollcall.db"

    def replace(self, **changes: object) -> DesktopConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict, origin: str = "settings") -> DesktopConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"{origin}: expected a JSON object of settings")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"{origin}: unknown setting(s) {', '.join(unknown)}; "
                              f"known ones are {', '.join(known)}")
        for key, value in data.items():
            expected = type(getattr(cls(), key))
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ConfigError(f"{origin}: '{key}' must be a {expected.__name__}, got {value!r}")
        try:
            return cls(**data)
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from None

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
