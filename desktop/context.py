"""What the pages of the app share: settings, the GUI thread's database connection, the notifier,
the task runner and the recognition engine (the pipeline of the gallery's active model).

Threads never share a database connection: the GUI thread uses `ctx.db`, and
every worker opens its own with `open_database()` (SQLite in WAL mode lets them
read while another writes). Pages listen to the change signals and re-read
core data; they never patch their tables by hand.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import torch
from PySide6.QtCore import QObject, Signal

from core.attendance.marks import Attendance
from core.storage.db import Database
from core.vision.detect import create_detector
from core.errors import ModelFileError, RollcallError
from core.gallery.store import Gallery
from core.vision.models.loading import DEFAULT_EMBEDDER, load_embedder, load_resolver
from core.vision.models.superres import BicubicResolver, SuperResolver
from core.vision.pipeline import FacePipeline, resolve_device
from desktop.config import DesktopConfig, save_config
from desktop.notifier import Notifier
from desktop.tasks import Task, TaskControl, TaskRunner

logger = logging.getLogger(__name__)

SMALL_FACES_TITLE = "Small faces"
SR_MODEL_FIX = ("Until then small faces are upscaled bicubically. Choose a DSR checkpoint (a training run's "
                "best.pt) in Settings > Small faces, or clear the model field there.")


class EngineNotReady(RollcallError):
    """The models are still loading (or failed to load)."""


def load_small_face_resolver(config: DesktopConfig, device: torch.device,
                             problems: list[str] | None = None) -> SuperResolver | BicubicResolver | None:
    """The upscaler of the small-face route: None when it is off, bicubic when no DSR model is set.
    A DSR file that cannot be used (missing, empty, truncated, not a DSR checkpoint) gives bicubic
    upscaling and its message (naming the file and the fix) is appended to `problems`; without a
    list it is raised."""
    if config.sr_below_px <= 0:
        return None
    try:
        return load_resolver(config.sr_model or "none", device=device)
    except ModelFileError as exc:
        if problems is None:
            raise
        problems.append(f"{exc} {SR_MODEL_FIX}")
        return BicubicResolver()


def load_pipeline(config: DesktopConfig, db: Database, problems: list[str] | None = None) -> FacePipeline:
    """The pipeline of the gallery's active model; an empty gallery gets the default model; small
    faces take the route the settings ask for (see `load_small_face_resolver` for `problems`).
    Slow (reads model files): call it on a worker thread."""
    device = resolve_device(config.device)
    gallery = Gallery(db)
    active = gallery.active_model()
    if active is None:
        embedder = load_embedder(DEFAULT_EMBEDDER, device=device)
        gallery.activate_model(embedder)
    else:
        source = active.source
        if source != DEFAULT_EMBEDDER and not Path(source).is_file():
            raise RollcallError(f"The active model's file {source} is missing. Copy it back, or choose "
                                f"another model in Settings.")
        embedder = load_embedder(source, device=device)
    return pipeline_for(config, embedder, device, problems)


def pipeline_for(config: DesktopConfig, embedder, device: torch.device,
                 problems: list[str] | None = None) -> FacePipeline:
    """The detector and small-face route the settings ask for, around `embedder` (see
    `load_small_face_resolver` for `problems`). Slow: call it on a worker thread."""
    detector = create_detector(config.detector, min_face_size=config.min_face_size, device=str(device))
    resolver = load_small_face_resolver(config, device, problems)
    return FacePipeline(detector, embedder, resolver=resolver, sr_below_px=config.sr_below_px)


def engine_settings(config: DesktopConfig) -> tuple:
    """The settings the loaded models depend on (the DSR model only while the route is on)."""
    return (config.detector, config.min_face_size, config.device, config.sr_below_px,
            config.sr_model if config.sr_below_px > 0 else "")


class AppContext(QObject):
    gallery_changed = Signal()  # people, samples, templates or the active model changed
    attendance_changed = Signal()  # sessions or marks changed
    engine_changed = Signal()  # a (new) pipeline is ready, or loading failed
    config_changed = Signal()
    camera_claimed = Signal(str)  # another part of the app is about to open this source (a camera is exclusive)

    def __init__(self, config: DesktopConfig, notifier: Notifier, tasks: TaskRunner,
                 config_file: Path | None = None, db_path: Path | None = None) -> None:
        super().__init__()
        self.config = config
        self.config_file = config_file
        self._db_override = Path(db_path) if db_path is not None else None
        self.notifier = notifier
        self.tasks = tasks
        self.db = Database(self.db_path)
        self.gallery = Gallery(self.db)
        self.attendance = Attendance(self.db)
        self._pipeline: FacePipeline | None = None
        self._engine_lock = threading.Lock()
        self.engine_error: str = ""
        self.resolver_error: str = ""  # why the configured DSR model is not in use (then bicubic), or ""
        self.engine_loading = False

    # ------------------------------------------------------------------ database

    def open_database(self) -> Database:
        """A new connection to the same database, for a worker thread (close it when done)."""
        return Database(self.db_path)

    @property
    def db_path(self) -> Path:
        """--db when given, else the database in the configured data folder."""
        return self._db_override or self.config.db_path

    # ------------------------------------------------------------------ engine

    @property
    def pipeline(self) -> FacePipeline:
        if self._pipeline is None:
            raise EngineNotReady(self.engine_error or "The recognition models are still loading; try again in a moment.")
        return self._pipeline

    @property
    def engine_ready(self) -> bool:
        return self._pipeline is not None

    def set_pipeline(self, pipeline: FacePipeline | None) -> None:
        self._pipeline = pipeline
        self.engine_error = ""
        self.engine_changed.emit()

    def load_engine(self) -> Task:
        """Load the models in the background; `engine_changed` fires when done (or failed)."""
        self.engine_loading = True
        config, db_path = self.config, self.db_path
        problems: list[str] = []  # why the DSR model is not in use, reported when the engine is ready

        def work(control: TaskControl) -> FacePipeline:
            control.progress(0, 0, "loading the recognition models")
            with self._engine_lock, Database(db_path) as db:
                return load_pipeline(config, db, problems)

        def done(pipeline: FacePipeline) -> None:
            self.engine_loading = False
            self.resolver_error = "\n".join(problems)
            for problem in problems:  # the engine runs; only the DSR model is not in use
                self.notifier.error(SMALL_FACES_TITLE, problem)
            self.set_pipeline(pipeline)
            self.gallery_changed.emit()  # an empty gallery may just have got its default model

        def failed(exc: BaseException) -> None:
            self.engine_loading = False
            self._pipeline = None
            self.engine_error = f"The recognition models could not be loaded: {exc}"
            self.notifier.exception("Loading the models", exc)
            self.engine_changed.emit()

        return self.tasks.run("Loading the models", work, on_done=done, on_failed=failed)

    # ------------------------------------------------------------------ settings

    def update_config(self, **changes: object) -> DesktopConfig:
        """Validate, save and apply new settings. A new data folder reopens the database; a new
        detector, face size, device or small-face route (width, DSR model) reloads the models."""
        new = self.config.replace(**changes)
        old = self.config
        db = Database(new.db_path) if new.db_path != old.db_path and self._db_override is None else None  # fails before anything changed
        try:
            save_config(new, self.config_file)
        except RollcallError:
            if db is not None:
                db.close()
            raise
        self.config = new
        if db is not None:
            self.db.close()
            self.db, self.gallery, self.attendance = db, Gallery(db), Attendance(db)
            self.gallery_changed.emit()
            self.attendance_changed.emit()
        if (db is not None, *engine_settings(new)) != (False, *engine_settings(old)):
            self._pipeline = None
            self.engine_changed.emit()
            self.load_engine()
        self.config_changed.emit()
        return new

    def close(self) -> None:
        self.tasks.wait(10000)
        self.db.close()
