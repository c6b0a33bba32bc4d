"""Typed job configs: frozen dataclasses read from YAML (or JSON), validated, copied into the run folder.

Unknown keys are rejected with the list of known ones, and every value is
type-checked, so a typo never silently falls back to a default. A run folder's
`config.yaml` holds the full config (defaults included), which is what
`--resume` reads back.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from core.vision.degrade import LANDMARK_NOISE, Degradation
from core.vision.models.dsr import check_dsr_args
from core.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
DSR_LOSSES = ("l1", "identity", "feature")
DEFAULT_DSR_WEIGHTS = {"l1": 1.0, "identity": 0.6, "feature": 0.18}
DEFAULT_DSR_ARCH = {"channels": 32, "blocks": 8, "up_channels": 16}
CONFIG_FILENAME = "config.yaml"
PATH_KEYS = ("data", "checkpoint", "embedder", "cache_dir", "dsr", "benchmark")

C = TypeVar("C", bound="JobConfig")
TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


@dataclass(frozen=True)
class JobConfig:
    """What every job shares: where it runs and for how long."""

    seed: int = 0
    device: str = "auto"  # "auto" (CUDA with AMP when present), "cpu" or "cuda"
    max_minutes: float = 0.0  # stop (resumably) after this long; 0: no limit

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got '{self.device}'")
        _check(self.max_minutes >= 0, f"max_minutes must be 0 (no limit) or positive, got {self.max_minutes}")

    def to_dict(self) -> dict:
        """Plain YAML/JSON types: tuples become lists."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def replace(self: C, **changes: Any) -> C:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls: type[C], data: object, origin: str = "config") -> C:
        if not isinstance(data, dict):
            raise ConfigError(f"{origin}: expected a mapping of settings, got {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(str(k) for k in set(data) - set(known))
        if unknown:
            raise ConfigError(f"{origin}: unknown key(s) {', '.join(unknown)}; known keys are {', '.join(known)}")
        hints = typing.get_type_hints(cls)
        values = {}
        for key, value in data.items():
            values[key] = _coerce(value, hints[key], f"{origin}: '{key}'")
        missing = [f.name for f in fields(cls) if f.name not in values
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise ConfigError(f"{origin}: missing required key(s) {', '.join(missing)}")
        try:
            return cls(**values)
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from None


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _coerce(value: object, hint: Any, where: str) -> object:
    """`value` if it has the declared type (ints accepted where floats are expected), else ConfigError."""
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint in (str, bool) and isinstance(value, hint):
        return value
    if typing.get_origin(hint) is dict and isinstance(value, dict):
        key_t, val_t = typing.get_args(hint)
        return {_coerce(k, key_t, f"{where} key"): _coerce(v, val_t, f"{where}[{k!r}]") for k, v in value.items()}
    if typing.get_origin(hint) is tuple and isinstance(value, (list, tuple)):  # tuple[X, ...] from a list
        item_t = typing.get_args(hint)[0]
        return tuple(_coerce(v, item_t, f"{where}[{i}]") for i, v in enumerate(value))
    expected = {dict: "a mapping", tuple: "a list"}.get(typing.get_origin(hint)) or TYPE_NAMES.get(hint, str(hint))
    raise ConfigError(f"{where} must be {expected}, got {value!r}")


@dataclass(frozen=True)
class TrainingFacesConfig(JobConfig):
    """What the jobs that train on degraded faces (train-dsr, finetune) share."""

    # the detector's landmark error that the degradation imitates, low-res pixels (core.vision.degrade.LANDMARK_NOISE:
    # MTCNN 0.4 / 0.5, YuNet 0.8 / 1.2): each point on its own, and all five together
    landmark_jitter_px: float = LANDMARK_NOISE["mtcnn"][0]
    landmark_shift_px: float = LANDMARK_NOISE["mtcnn"][1]

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.landmark_jitter_px >= 0 and self.landmark_shift_px >= 0,
               f"landmark_jitter_px and landmark_shift_px must not be negative, got {self.landmark_jitter_px} "
               f"and {self.landmark_shift_px}")

    def degradation(self) -> Degradation:
        """The training degradation, with this config's landmark error."""
        return Degradation(jitter_px=self.landmark_jitter_px, shift_px=self.landmark_shift_px)


@dataclass(frozen=True)
class DSRTrainConfig(TrainingFacesConfig):
    """train-dsr: DSR super-resolution trained on degraded aligned faces against the frozen embedder."""

    data: str = ""  # folder of subject folders of face images (112x112 ones are taken as aligned crops),
    # or a Rollcall gallery database file (rollcall.db): its enrolled samples
    val_fraction: float = 0.2  # share of the SUBJECTS held out for validation (never their images)
    epochs: int = 100
    max_steps: int = 0  # stop after this many batches; 0: epochs decide
    batch_size: int = 16
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 100  # linear warm-up, then cosine decay to lr * min_lr_ratio
    min_lr_ratio: float = 0.05
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DSR_WEIGHTS))
    grad_clip: float = 1.0  # max gradient norm; 0: off
    patience: int = 10  # validations without a better identity similarity before stopping; 0: off
    val_every: int = 0  # steps between validations; 0: at the end of every epoch
    log_every: int = 10  # steps between step events (the first step is always reported)
    max_nonfinite: int = 1  # consecutive NaN/Inf batches that are skipped; one more stops the run
    embedder: str = "dlib"  # the frozen identity model: "dlib" or a model file (also the feature-matching one)
    # further frozen identity models ("dlib" or a file) -> weight; identity = weighted mean of 1 - cos over
    # `embedder` (weight 1) and these, so one DSR serves a site that switches between them
    extra_embedders: dict[str, float] = field(default_factory=dict)
    flip_prob: float = 0.5  # chance that a training face is mirrored (validation faces never are)
    dsr: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_DSR_ARCH))  # DSRNet arguments
    max_val_images: int = 0  # cap on validation images (0: all)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(bool(self.data.strip()), "data is empty: give the folder that holds one sub-folder of face "
                                        "images per person")
        _check(0.0 < self.val_fraction < 1.0, f"val_fraction must be between 0 and 1, got {self.val_fraction}")
        _check(self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}")
        _check(self.max_steps >= 0, f"max_steps must be 0 (epochs decide) or positive, got {self.max_steps}")
        _check(self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")
        _check(0.0 < self.lr <= 1.0, f"lr must be in (0, 1], got {self.lr}")
        _check(self.weight_decay >= 0, f"weight_decay must not be negative, got {self.weight_decay}")
        _check(self.warmup_steps >= 0, f"warmup_steps must not be negative, got {self.warmup_steps}")
        _check(0.0 <= self.min_lr_ratio <= 1.0, f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        unknown = sorted(set(self.weights) - set(DSR_LOSSES))
        _check(not unknown, f"weights: unknown loss(es) {', '.join(unknown)}; known: {', '.join(DSR_LOSSES)}")
        _check(all(w >= 0 for w in self.weights.values()), f"weights must not be negative, got {self.weights}")
        _check(any(w > 0 for w in self.weights.values()), "weights: at least one loss needs a positive weight")
        _check(self.grad_clip >= 0, f"grad_clip must be 0 (off) or positive, got {self.grad_clip}")
        _check(self.patience >= 0, f"patience must be 0 (off) or positive, got {self.patience}")
        _check(self.val_every >= 0, f"val_every must be 0 (every epoch) or positive, got {self.val_every}")
        _check(self.log_every >= 1, f"log_every must be at least 1, got {self.log_every}")
        _check(self.max_nonfinite >= 0, f"max_nonfinite must not be negative, got {self.max_nonfinite}")
        _check(bool(self.embedder.strip()), "embedder is empty: use 'dlib' or the path of a model file")
        _check(all(k.strip() for k in self.extra_embedders), "extra_embedders: a name is empty; use 'dlib' or "
                                                             "the path of a model file")
        _check(all(w > 0 for w in self.extra_embedders.values()),
               f"extra_embedders: weights must be positive, got {self.extra_embedders}")
        _check(self.embedder not in self.extra_embedders,
               f"extra_embedders repeats the main embedder {self.embedder}")
        _check(0.0 <= self.flip_prob <= 1.0, f"flip_prob must be in [0, 1], got {self.flip_prob}")
        try:  # types and documented ranges, before train-dsr builds anything
            check_dsr_args(self.dsr)
        except ValueError as exc:
            raise ConfigError(f"dsr: {exc}") from None
        _check(self.max_val_images >= 0, f"max_val_images must not be negative, got {self.max_val_images}")

    def loss_weights(self) -> dict[str, float]:
        """Every loss with its weight (a loss missing from `weights` has weight 0)."""
        return {name: float(self.weights.get(name, 0.0)) for name in DSR_LOSSES}


@dataclass(frozen=True)
class EvalLowresConfig(JobConfig):
    """eval-lowres, two modes chosen by the data folder.

    Pairs mode (the folder holds pairs.txt and images/, e.g. ../shared/bench/celeba): the low-resolution
    verification benchmark of `core.benchmarks.lowres` (what bench/lowres.py runs), per face width in
    `sizes`. Subject-folder mode (one sub-folder of face images per person): PSNR, SSIM and identity
    similarity of a DSR checkpoint against bicubic upscaling.
    """

    data: str = ""  # a pairs benchmark folder, or a folder of subject folders of face images
    checkpoint: str = ""  # a DSR checkpoint (best.pt of a train-dsr run); empty: bicubic only
    embedder: str = "dlib"
    batch_size: int = 16  # subject-folder mode
    max_images: int = 0  # subject-folder mode; 0: all
    sizes: tuple[int, ...] = (12, 16, 24, 32)  # pairs mode: face widths in px
    detector: str = "mtcnn"  # pairs mode: "mtcnn" or "yunet:PATH"
    min_face: int = 20  # pairs mode: smallest face detected at full resolution
    lr_min_face: int = 12  # pairs mode: smallest face detected on the degraded images
    limit: int = 0  # pairs mode: use only N pairs, half of each kind; 0: all
    cache_dir: str = ""  # pairs mode: cache of the full-resolution pass; empty: no cache
    log_every: int = 50  # pairs mode: images between step events

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(bool(self.data.strip()), "data is empty: give a pairs benchmark folder (pairs.txt and images/) "
                                        "or the folder that holds one sub-folder of face images per person")
        _check(self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")
        _check(self.max_images >= 0, f"max_images must not be negative, got {self.max_images}")
        object.__setattr__(self, "sizes", tuple(sorted(set(self.sizes))))  # each width once, smallest first
        _check(len(self.sizes) > 0 and all(4 <= s <= 112 for s in self.sizes),
               f"sizes must be face widths between 4 and 112 px, e.g. [12, 16, 24, 32]; got {list(self.sizes)}")
        kind, _, arg = self.detector.partition(":")
        _check((kind == "mtcnn" and not arg) or (kind == "yunet" and bool(arg.strip())),
               f"detector must be 'mtcnn' or 'yunet:PATH/TO/face_detection_yunet_2023mar.onnx', got "
               f"'{self.detector}'")
        _check(self.min_face >= 1, f"min_face must be a positive number of pixels, got {self.min_face}")
        _check(self.lr_min_face >= 1, f"lr_min_face must be a positive number of pixels, got {self.lr_min_face}")
        _check(self.limit == 0 or self.limit >= 20, f"limit must be 0 (all pairs) or at least 20 (10 of each "
                                                    f"kind, for 10-fold accuracy), got {self.limit}")
        _check(self.log_every >= 1, f"log_every must be at least 1, got {self.log_every}")


MANIFEST_SPLITS = ("images", "subjects")
FINETUNE_LOSSES = ("arcface", "alignment")


@dataclass(frozen=True)
class BuildDatasetConfig(JobConfig):
    """build-dataset: a manifest (RUN_DIR/manifest.json) of which images train and which validate."""

    data: str = ""  # folder of subject folders of face images, or a Rollcall gallery database (rollcall.db)
    split: str = "images"  # "images": 80/20 of each person's images (fine-tuning); "subjects": people held out (DSR)
    val_fraction: float = 0.2  # share of each subject's images ("images") or of the subjects ("subjects")
    min_images: int = 5  # subjects with fewer usable images are dropped (and listed)
    find_faces: bool = True  # detect each image's face once and store its landmarks (training skips detection)
    log_every: int = 50  # images between step events

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(bool(self.data.strip()), "data is empty: give the folder that holds one sub-folder of face "
                                        "images per person, or the app's rollcall.db")
        _check(self.split in MANIFEST_SPLITS, f"split must be one of {', '.join(MANIFEST_SPLITS)}, got '{self.split}'")
        _check(0.0 < self.val_fraction < 1.0, f"val_fraction must be between 0 and 1, got {self.val_fraction}")
        _check(self.min_images >= 2, f"min_images must be at least 2 (one image on each side), got {self.min_images}")
        _check(self.log_every >= 1, f"log_every must be at least 1, got {self.log_every}")


@dataclass(frozen=True)
class FinetuneConfig(TrainingFacesConfig):
    """finetune: an embedder fine-tuned in two stages so that super-resolved small faces embed like sharp ones.

    Stage 1 trains only the ArcFace head (backbone frozen); stage 2 trains the whole model on
    arcface(SR) + alignment * (1 - cos(emb(SR), emb(HR))). Defaults: the prototype's stable recipe.
    """

    data: str = ""  # a build-dataset manifest (split: images), or a folder / gallery split here the same way
    embedder: str = "dlib"  # the model to fine-tune: "dlib" or a model file (EdgeFace family, Rollcall checkpoint)
    dsr: str = ""  # DSR checkpoint that turns the degraded faces into SR inputs; empty: bicubic upscaling
    val_fraction: float = 0.2  # when data is not a manifest: share of each subject's images validated on
    min_images: int = 5  # when data is not a manifest: subjects with fewer images are dropped
    stage1_epochs: int = 5
    stage2_epochs: int = 30  # at most; early stopping may end it sooner
    max_steps: int = 0  # stop after this many batches in all; 0: the epochs decide
    batch_size: int = 32
    head_lr: float = 1e-4  # stage 1
    backbone_lr: float = 3e-6  # stage 2
    head_lr_stage2: float = 3e-5
    min_lr_ratio: float = 0.1  # stage 2 decays (cosine) to lr * min_lr_ratio
    weight_decay: float = 5e-4
    arcface_scale: float = 32.0
    arcface_margin: float = 0.3
    weights: dict[str, float] = field(default_factory=lambda: {"arcface": 1.0, "alignment": 0.3})  # stage 2
    grad_clip: float = 1.0  # max gradient norm; 0: off
    patience: int = 10  # validations without a better SR-HR similarity before stopping; 0: off
    max_nonfinite: int = 1  # consecutive NaN/Inf batches that are skipped; one more stops the run
    flip_prob: float = 0.5
    log_every: int = 10
    max_val_images: int = 0  # cap on validation images (0: all)
    eval_sizes: tuple[int, ...] = (12, 16, 24, 32)  # final low-res evaluation on the val split; empty: none
    # a pairs benchmark folder (pairs.txt + images/, e.g. ../shared/bench/celeba) also run at the end for the
    # untuned model and best.pt when it is there (core.benchmarks.lowres, sizes eval_sizes); "": none
    benchmark: str = ""
    benchmark_detector: str = "mtcnn"  # "mtcnn" or "yunet:PATH"
    collapse_similarity: float = 0.99  # embedding collapse: SR-HR similarity above this ...
    # ... while the spread of the embeddings (1 - |mean embedding|^2) has fallen below this fraction of the
    # untuned model's (relative: dlib's embeddings sit in a narrow cone, EdgeFace's spread out)
    collapse_spread: float = 0.25
    # best.pt only from validations whose full-resolution verification is at most this far (0.005: half a
    # point) below the untuned model's; negative: no guard
    max_hr_drop: float = 0.005

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(bool(self.data.strip()), "data is empty: give a build-dataset manifest, a folder of subject "
                                        "folders, or the app's rollcall.db")
        _check(bool(self.embedder.strip()), "embedder is empty: use 'dlib' or the path of a model file")
        _check(0.0 < self.val_fraction < 1.0, f"val_fraction must be between 0 and 1, got {self.val_fraction}")
        _check(self.min_images >= 2, f"min_images must be at least 2, got {self.min_images}")
        _check(self.stage1_epochs >= 0 and self.stage2_epochs >= 0 and self.stage1_epochs + self.stage2_epochs > 0,
               f"stage1_epochs and stage2_epochs must not be negative and not both 0, got "
               f"{self.stage1_epochs} and {self.stage2_epochs}")
        _check(self.max_steps >= 0, f"max_steps must be 0 (epochs decide) or positive, got {self.max_steps}")
        _check(self.batch_size >= 2, f"batch_size must be at least 2, got {self.batch_size}")
        for name in ("head_lr", "backbone_lr", "head_lr_stage2"):
            value = getattr(self, name)
            _check(0.0 < value <= 1.0, f"{name} must be in (0, 1], got {value}")
        _check(0.0 <= self.min_lr_ratio <= 1.0, f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        _check(self.weight_decay >= 0, f"weight_decay must not be negative, got {self.weight_decay}")
        _check(self.arcface_scale > 0, f"arcface_scale must be positive, got {self.arcface_scale}")
        _check(0.0 <= self.arcface_margin < 1.5, f"arcface_margin must be in [0, 1.5) radians, got {self.arcface_margin}")
        unknown = sorted(set(self.weights) - set(FINETUNE_LOSSES))
        _check(not unknown, f"weights: unknown loss(es) {', '.join(unknown)}; known: {', '.join(FINETUNE_LOSSES)}")
        _check(all(w >= 0 for w in self.weights.values()), f"weights must not be negative, got {self.weights}")
        _check(self.weights.get("arcface", 0.0) > 0, "weights: arcface needs a positive weight (it keeps people "
                                                     "apart; alignment alone collapses the embeddings)")
        _check(self.grad_clip >= 0, f"grad_clip must be 0 (off) or positive, got {self.grad_clip}")
        _check(self.patience >= 0, f"patience must be 0 (off) or positive, got {self.patience}")
        _check(self.max_nonfinite >= 0, f"max_nonfinite must not be negative, got {self.max_nonfinite}")
        _check(0.0 <= self.flip_prob <= 1.0, f"flip_prob must be in [0, 1], got {self.flip_prob}")
        _check(self.log_every >= 1, f"log_every must be at least 1, got {self.log_every}")
        _check(self.max_val_images >= 0, f"max_val_images must not be negative, got {self.max_val_images}")
        object.__setattr__(self, "eval_sizes", tuple(sorted(set(self.eval_sizes))))
        _check(all(4 <= s <= 112 for s in self.eval_sizes),
               f"eval_sizes must be face widths between 4 and 112 px, got {list(self.eval_sizes)}")
        kind, _, arg = self.benchmark_detector.partition(":")
        _check((kind == "mtcnn" and not arg) or (kind == "yunet" and bool(arg.strip())),
               f"benchmark_detector must be 'mtcnn' or 'yunet:PATH', got '{self.benchmark_detector}'")
        _check(not self.benchmark.strip() or bool(self.eval_sizes), "benchmark needs eval_sizes (the face widths)")
        _check(self.max_hr_drop < 1.0, f"max_hr_drop must be below 1 (negative: no guard), got {self.max_hr_drop}")
        _check(0.0 < self.collapse_similarity <= 1.0 and 0.0 <= self.collapse_spread < 1.0,
               "collapse_similarity must be in (0, 1] and collapse_spread in [0, 1)")

    def loss_weights(self, stage: int) -> dict[str, float]:
        """Stage 1 trains the head on ArcFace alone; stage 2 adds the SR-HR alignment."""
        if stage == 1:
            return {"arcface": float(self.weights.get("arcface", 1.0)), "alignment": 0.0}
        return {name: float(self.weights.get(name, 0.0)) for name in FINETUNE_LOSSES}


JOB_CONFIGS: dict[str, type[JobConfig]] = {"train-dsr": DSRTrainConfig, "eval-lowres": EvalLowresConfig,
                                           "build-dataset": BuildDatasetConfig, "finetune": FinetuneConfig}


def read_mapping(path: str | Path) -> dict:
    """The mapping in a YAML (.yaml/.yml) or JSON (.json) file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist. Check the path given to --config.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"Config file {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: "
                          f"{str(exc).splitlines()[0]}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {path} must hold a mapping of settings (key: value), "
                          f"not a {type(data).__name__}")
    return data


def load_config(job: str, path: str | Path) -> JobConfig:
    """The typed config of `job` from a YAML or JSON file."""
    try:
        cls = JOB_CONFIGS[job]
    except KeyError:
        raise ConfigError(f"unknown job '{job}' (known: {', '.join(JOB_CONFIGS)})") from None
    data = read_mapping(path)
    base = Path(path).resolve().parent
    for key in PATH_KEYS:  # relative paths in a config file are relative to that file
        if key in data:
            data[key] = _resolve_path(data[key], base)
    if isinstance(data.get("extra_embedders"), dict):
        data["extra_embedders"] = {_resolve_path(k, base): v for k, v in data["extra_embedders"].items()}
    return cls.from_dict(data, origin=f"config file {path}")


def _resolve_path(value: object, base: Path) -> object:
    """A relative model or data path in a config file, made absolute against the file's folder."""
    if isinstance(value, str) and value.strip() and value != "dlib" and not Path(value).is_absolute():
        try:
            return str((base / value).resolve())
        except (OSError, ValueError) as exc:  # a NUL character, a name too long, a link loop
            raise ConfigError(f"{value[:100]!r} in the config file is not a usable path ({exc}); "
                              f"fix the path in the file") from None
    return value


def save_config(config: JobConfig, run_dir: str | Path) -> Path:
    """Write the full config (defaults included) to RUN_DIR/config.yaml."""
    path = Path(run_dir) / CONFIG_FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
    tmp.replace(path)
    return path
