"""The active recognition pipeline: built in ONE place from the engine settings and the gallery's active
model, and held (lazily, thread-safely) for a database's service and its worker connections.

An empty gallery gets the default model activated first. A DSR file that cannot be used for the
small-face route gives bicubic upscaling and a message naming the file and the fix (the engine still
runs); a missing or changed active model file is an error. The small-face route is on by default whenever
a DSR model is installed (`effective_settings`).
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path

import torch

from core.errors import ModelFileError
from core.gallery.store import Gallery, GalleryError
from core.gallery.lifecycle import load_record_model
from core.vision.models.base import Embedder
from core.vision.models.checkpoint import is_checkpoint
from core.vision.models.onnx_backend import with_backend
from core.vision.models.loading import DEFAULT_EMBEDDER, load_embedder, load_resolver
from core.vision.models.registry import SUPER_RESOLVERS
from core.vision.models.superres import BicubicResolver, SuperResolver
from core.vision.pipeline import FacePipeline, build_pipeline, resolve_device
from core.service.settings import DEFAULT_SR_BELOW_PX, EngineSettings

logger = logging.getLogger(__name__)

SR_MODEL_FIX = ("Until then small faces are upscaled bicubically. Choose a DSR checkpoint (a training run's "
                "best.pt) in Settings > Small faces, or clear the model field there (sr_model in a settings file).")


class ActiveModelMissingError(GalleryError):
    """The gallery's active model file is not where the gallery says it is."""


MODELS_FOLDER = "models"  # beside the database: where the app keeps its own copies of model files


def models_folder(db_path: str | Path | None) -> Path | None:
    """The data folder's models/ of a database file (None in memory)."""
    return None if db_path is None else Path(db_path).parent / MODELS_FOLDER


def is_dsr_file(path: Path) -> bool:
    """True when `path` is a Rollcall checkpoint holding a face super-resolution model (read, not built)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - anything unreadable is simply not an installed DSR
        return False
    return is_checkpoint(obj) and obj.get("arch") in SUPER_RESOLVERS


def installed_dsr(settings: EngineSettings, models_dir: str | Path | None = None) -> str:
    """The DSR model that counts as installed: the configured `sr_model`, else the newest DSR checkpoint
    (*.pt) in `models_dir` (the data folder's models/); "" when there is none."""
    if settings.sr_model:
        return settings.sr_model
    folder = Path(models_dir) if models_dir is not None else None
    if folder is None or not folder.is_dir():
        return ""
    for path in sorted(folder.glob("*.pt"), key=lambda p: p.stat().st_mtime, reverse=True):
        if is_dsr_file(path):
            return str(path)
    return ""


def effective_settings(settings: EngineSettings, models_dir: str | Path | None = None) -> EngineSettings:
    """The settings the pipeline is built from: an automatic small-face route (`sr_below_px` None) is on at
    DEFAULT_SR_BELOW_PX with the installed DSR (`installed_dsr`) when there is one, else off; an explicit
    width or 0 (off) is kept as the operator set it."""
    if settings.sr_below_px is not None:
        return settings
    model = installed_dsr(settings, models_dir)
    if model:
        logger.info("small faces (narrower than %d px) go through the installed DSR %s", DEFAULT_SR_BELOW_PX, model)
        return settings.replace(sr_below_px=DEFAULT_SR_BELOW_PX, sr_model=model)
    return settings.replace(sr_below_px=0)


def small_face_resolver(settings: EngineSettings, device: torch.device,
                        problems: list[str] | None = None) -> SuperResolver | BicubicResolver | None:
    """The upscaler of the small-face route: None when it is off, bicubic when no DSR model is set.
    A DSR file that cannot be used (missing, empty, truncated, not a DSR checkpoint) gives bicubic
    upscaling and its message is appended to `problems`; without a list it is raised."""
    if not settings.sr_below_px:  # off, or automatic without `effective_settings` having found a DSR
        return None
    try:
        return load_resolver(settings.sr_model or "none", device=device)
    except ModelFileError as exc:
        if problems is None:
            raise
        problems.append(f"{exc} {SR_MODEL_FIX}")
        return BicubicResolver()


def pipeline_around(settings: EngineSettings, embedder: Embedder, problems: list[str] | None = None,
                    models_dir: str | Path | None = None) -> FacePipeline:
    """The detector and small-face route of `settings` (an automatic route resolved against `models_dir`,
    see `effective_settings`) around a loaded embedder. Slow (reads model files)."""
    settings = effective_settings(settings, models_dir)
    device = resolve_device(settings.device)
    embedder = with_backend(embedder, settings.backend)
    return build_pipeline(settings.detector, embedder, device=str(device), min_face_size=settings.min_face_size,
                          dsr=small_face_resolver(settings, device, problems), sr_below_px=settings.sr_below_px or 0)


def standalone_pipeline(settings: EngineSettings, model: str = DEFAULT_EMBEDDER) -> FacePipeline:
    """The settings' detector and small-face route around any model, without a gallery (for comparing
    photos or evaluating a model; needs no database)."""
    device = resolve_device(settings.device)
    return pipeline_around(settings, load_embedder(model, device=device))


def build_active_pipeline(settings: EngineSettings, gallery: Gallery, *, default_model: str = DEFAULT_EMBEDDER,
                          problems: list[str] | None = None) -> FacePipeline:
    """THE pipeline of the gallery's active model with the engine settings' detector and small-face
    route; an empty gallery gets `default_model` activated. A DSR in the database's models/ folder counts as
    installed (`effective_settings`). Slow: call it off the GUI thread."""
    device = resolve_device(settings.device)
    active = gallery.active_model()
    if active is None:
        embedder = load_embedder(default_model, device=device)
        gallery.activate_model(embedder)  # nothing stored yet: nothing to re-embed
    else:
        source = active.source or DEFAULT_EMBEDDER
        if source != DEFAULT_EMBEDDER and not Path(source).is_file():
            raise ActiveModelMissingError(
                f"The active model's file {source} is missing. Copy it back, or choose another model "
                f"(Settings in the app; rollcall model activate PATH on the command line).")
        embedder = load_record_model(active, str(device))  # also refuses a file whose weights changed
    return pipeline_around(settings, embedder, problems, models_folder(gallery.db.path))


class Engine:
    """The settings and the active pipeline of one database, shared by its service and the worker-scoped
    services of `Rollcall.connect()`. A pipeline built while the settings changed is not installed
    (the generation moved on), so a stale pipeline never replaces a newer choice."""

    def __init__(self, settings: EngineSettings, default_model: str = DEFAULT_EMBEDDER) -> None:
        self.settings = settings
        self.default_model = default_model
        self.lock = threading.RLock()  # held while building: one build at a time
        self._state_lock = threading.Lock()
        self._pipeline: FacePipeline | None = None
        self._problems: tuple[str, ...] = ()
        self._generation = 0

    @property
    def pipeline(self) -> FacePipeline | None:
        return self._pipeline

    @property
    def problems(self) -> tuple[str, ...]:
        """Why the configured DSR model is not in use (bicubic instead), for the current pipeline."""
        return self._problems

    @property
    def generation(self) -> int:
        return self._generation

    def install(self, pipeline: FacePipeline | None, problems: tuple[str, ...] = (),
                generation: int | None = None) -> bool:
        """Make `pipeline` the active one (None drops it); False when `generation` is stale."""
        with self._state_lock:
            if generation is not None and generation != self._generation:
                return False
            self._pipeline, self._problems = pipeline, tuple(problems)
            self._generation += 1
            return True

    def update(self, settings: EngineSettings) -> bool:
        """New settings; True when the models depend on what changed (the pipeline is then dropped)."""
        with self._state_lock:
            reload = settings.models_key != self.settings.models_key
            self.settings = settings
            if reload:
                self._pipeline, self._problems = None, ()
                self._generation += 1
            return reload
