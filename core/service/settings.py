"""The recognition engine's settings: a frozen, validated dataclass the app, the CLI and the service share.

The detector, the smallest face searched for, the device and the small-face route (super-resolve faces
narrower than `sr_below_px` with the DSR checkpoint `sr_model`, bicubically when it is empty; 0 turns
the route off; None, the default, turns it on at DEFAULT_SR_BELOW_PX whenever a DSR model is installed:
see `core.service.engine.effective_settings`). Built from a dict, unknown keys and wrong types are
rejected with the origin named.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

from core.errors import ConfigError
from core.vision.models.onnx_backend import BACKENDS

DEVICES = ("cpu", "cuda", "auto")
MIN_FACE_RANGE = (12, 1000)  # the smallest face searched for, pixels
SR_BELOW_PX_RANGE = (12, 200)  # face widths the small-face route can be set to (0 turns it off)
# The width used when the route is switched on without one ("Use this model"). On the validation people of
# the training data (python -m bench.sr_crossover, docs/BENCHMARKS.md) the trained DSR beat direct alignment
# at 12 px and no longer at 16 px, for dlib and for EdgeFace-XS; the DSR's input is 28 px, so wider faces
# lose detail on the way in.
DEFAULT_SR_BELOW_PX = 16


@dataclass(frozen=True)
class EngineSettings:
    detector: str = "mtcnn"  # "mtcnn" or "yunet:PATH_TO_ONNX"
    min_face_size: int = 20  # smallest face searched for, in pixels
    device: str = "cpu"  # "cpu", "cuda" or "auto"
    sr_model: str = ""  # DSR checkpoint for small faces; empty: bicubic upscaling
    # super-resolve faces narrower than this many pixels; 0: off; None: automatic (on at DEFAULT_SR_BELOW_PX
    # when a DSR model is installed, see core.service.engine.effective_settings)
    sr_below_px: int | None = None
    # How faces are embedded on the CPU: "auto" (ONNX Runtime when it reproduces torch, else torch), "torch"
    # or "onnx" (core.vision.models.onnx_backend). Training always uses torch.
    backend: str = "auto"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got '{self.backend}'")
        if not (self.detector == "mtcnn" or self.detector.startswith("yunet:")):
            raise ConfigError(f"detector must be 'mtcnn' or 'yunet:PATH', got '{self.detector}'")
        if self.detector.startswith("yunet:") and not self.detector[6:].strip():
            raise ConfigError("the YuNet detector needs its .onnx file: 'yunet:PATH'")
        low, high = MIN_FACE_RANGE
        if not low <= self.min_face_size <= high:
            raise ConfigError(f"min_face_size must be between {low} and {high} pixels, got {self.min_face_size}")
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got '{self.device}'")
        low, high = SR_BELOW_PX_RANGE
        if self.sr_below_px not in (None, 0) and not low <= self.sr_below_px <= high:
            raise ConfigError(f"sr_below_px must be 0 (small faces are not super-resolved), empty (automatic: on "
                              f"when a DSR model is installed) or a face width between {low} and {high} pixels, "
                              f"got {self.sr_below_px}")

    @property
    def sr_route_off(self) -> bool:
        """The operator turned the small-face route off (0), as opposed to leaving it automatic (None)."""
        return self.sr_below_px == 0

    @property
    def models_key(self) -> tuple:
        """What the loaded models depend on (the DSR model only while the route is on): two settings
        with the same key share a pipeline."""
        return (self.detector, self.min_face_size, self.device, self.sr_below_px,
                "" if self.sr_route_off else self.sr_model, self.backend)

    def replace(self, **changes: object) -> EngineSettings:
        unknown = sorted(set(changes) - set(field_names()))
        if unknown:
            raise ConfigError(f"unknown engine setting(s) {', '.join(unknown)}; known ones are "
                              f"{', '.join(field_names())}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict, origin: str = "engine settings") -> EngineSettings:
        return strict_from_dict(cls, data, origin)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


OPTIONAL_TYPES = {"int | None": int, "float | None": float, "str | None": str}


def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(EngineSettings))


def strict_from_dict(cls: type, data: dict, origin: str):
    """A frozen settings dataclass from a dict: unknown keys (listed with the known ones), wrong types and
    invalid values are ConfigErrors naming `origin`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected an object of settings")
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{origin}: unknown setting(s) {', '.join(unknown)}; known ones are {', '.join(known)}")
    check_types(cls(), data, origin)
    try:
        return cls(**data)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None


def check_types(defaults: object, data: dict, origin: str) -> None:
    """Each value has the type of its default (a bool is not an int; a field whose default is None takes
    None or the type its annotation names, as in `int | None`), else a ConfigError naming `origin`."""
    annotations = {f.name: f.type for f in fields(type(defaults))}
    for key, value in data.items():
        default = getattr(defaults, key)
        if default is None:
            if value is None:
                continue
            expected = OPTIONAL_TYPES.get(str(annotations.get(key)), type(None))
        else:
            expected = type(default)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"{origin}: '{key}' must be a {expected.__name__}, got {value!r}")
