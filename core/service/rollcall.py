"""`Rollcall`: one database opened with its gallery, attendance, engine settings and active pipeline,
and every operation on them (core.service.operations), reporting what changed to its subscribers."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from core.attendance.marks import Attendance
from core.storage.backup import daily_backup
from core.storage.db import Database, default_db_path
from core.errors import RollcallError
from core.attendance.grabber import Backoff, Frame, SourceEvent
from core.gallery.store import Gallery, GalleryError
from core.attendance.recogniser import FrameReport, RecognitionSettings
from core.attendance.sources import FrameSource
from core.vision.models.base import Embedder
from core.vision.models.loading import DEFAULT_EMBEDDER, load_embedder
from core.vision.pipeline import FacePipeline, with_embedder
from core.service import engine as engine_module
from core.service.changes import ChangeHub, Changes, Subscriber
from core.service.engine import Engine
from core.service.operations import Operations
from core.service.privacy_ops import PrivacyOperations
from core.service.register_ops import RegisterOperations
from core.service.running import RunSummary, SourceRun
from core.service.settings import EngineSettings

logger = logging.getLogger(__name__)

DB_FILENAME = "rollcall.db"


class ServiceError(RollcallError):
    """The service cannot do what was asked in its current state."""


def database_location(location: str | Path | None) -> str | Path:
    """A database file, ":memory:", or an existing data folder (then its rollcall.db); None: the
    default database of the user data folder."""
    if location is None:
        return default_db_path()
    if str(location) == ":memory:":
        return ":memory:"
    path = Path(location)
    return path / DB_FILENAME if path.is_dir() else path


class Rollcall(Operations, RegisterOperations, PrivacyOperations):
    """The application service (see the package docstring for the thread rule)."""

    def __init__(self, db: Database, settings: EngineSettings | None = None, *,
                 default_model: str = DEFAULT_EMBEDDER, hub: ChangeHub | None = None,
                 engine: Engine | None = None) -> None:
        self._db = db
        self._gallery = Gallery(db)
        self._attendance = Attendance(db)
        self.hub = hub or ChangeHub()
        self.engine = engine or Engine(settings or EngineSettings(), default_model)
        self._decisions: dict = {}  # threshold_decision's cache
        self._closed = False

    @classmethod
    def open(cls, location: str | Path | None = None, settings: EngineSettings | None = None, *,
             default_model: str = DEFAULT_EMBEDDER) -> Rollcall:
        """Open (creating and migrating when needed) the database at `location` (see
        `database_location`). `default_model` is activated when the gallery is still empty."""
        db = Database(database_location(location))
        try:
            if db.path is not None:
                daily_backup(db)  # at most one a calendar day (core.storage.backup)
        except BaseException:
            db.close()
            raise
        return cls(db, settings, default_model=default_model)

    def connect(self) -> Rollcall:
        """A service on a new connection to the same database, for a worker thread (close it there).
        It shares this service's subscribers, settings and active pipeline."""
        if self._db.path is None:
            raise ServiceError("an in-memory database cannot be opened from another thread; "
                               "open the service on a database file")
        return Rollcall(Database(self._db.path), hub=self.hub, engine=self.engine)

    def use_database(self, location: Database | str | Path) -> None:
        """Switch to another database (an open one, a file or a data folder; opened first: nothing
        changes when that fails). The pipeline is rebuilt on next use, for the new gallery's model."""
        db = location if isinstance(location, Database) else Database(database_location(location))
        old, self._db = self._db, db
        self._gallery, self._attendance = Gallery(db), Attendance(db)
        self._decisions = {}
        old.close()
        self.engine.install(None)
        self.hub.report(Changes(people=True, samples=True, model=True, sessions=True, marks=True, engine=True,
                                settings=True))  # settings: the database in use is one

    # ------------------------------------------------------------------ state

    @property
    def db(self) -> Database:
        return self._db

    @property
    def gallery(self) -> Gallery:
        return self._gallery

    @property
    def attendance(self) -> Attendance:
        return self._attendance

    @property
    def settings(self) -> EngineSettings:
        return self.engine.settings

    @property
    def path(self) -> Path | None:
        """The database file (None in memory)."""
        return self._db.path

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._db.close()

    def __enter__(self) -> Rollcall:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ changes

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """`callback(changes)` after each operation that committed; returns the unsubscribe function."""
        return self.hub.subscribe(callback)

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Several operations on this thread, reported once at the end."""
        return self.hub.batch()

    def _report(self, **flags: bool) -> None:
        self.hub.report(Changes(**flags))

    # ------------------------------------------------------------------ engine

    @property
    def current_pipeline(self) -> FacePipeline | None:
        """The active pipeline if built (never builds)."""
        return self.engine.pipeline

    @property
    def engine_problems(self) -> tuple[str, ...]:
        """Why the configured DSR model is not in use (small faces upscaled bicubically instead)."""
        return self.engine.problems

    def build_pipeline(self, problems: list[str] | None = None) -> FacePipeline:
        """Build the active pipeline without installing it (slow). An empty gallery gets the default
        model activated (reported). DSR problems go to `problems` (raised without a list)."""
        pipeline, activated = self._build(problems)
        self._report(model=activated)
        return pipeline

    def _build(self, problems: list[str] | None) -> tuple[FacePipeline, bool]:
        """The pipeline, and whether the default model was activated on an empty gallery for it."""
        empty = self.gallery.active_model() is None
        pipeline = engine_module.build_active_pipeline(self.engine.settings, self.gallery,
                                                       default_model=self.engine.default_model, problems=problems)
        return pipeline, empty and self.gallery.active_model() is not None

    def pipeline(self) -> FacePipeline:
        """The active pipeline, built on first use (one build at a time, whatever the thread)."""
        current = self.engine.pipeline
        if current is not None:
            return current
        installed = activated = False
        with self.engine.lock:
            current = self.engine.pipeline
            if current is None:
                generation = self.engine.generation
                problems: list[str] = []
                current, activated = self._build(problems)
                for problem in problems:
                    logger.warning("%s", problem)
                installed = self.engine.install(current, tuple(problems), generation)
        # one report, outside the lock (a subscriber may ask for the pipeline)
        self._report(model=activated, engine=installed)
        return current

    def install_pipeline(self, pipeline: FacePipeline | None, problems: tuple[str, ...] | list[str] = ()) -> None:
        """Make a pipeline built elsewhere (`build_pipeline` on a worker) the active one, with the
        reasons its DSR model is not in use; None drops it (rebuilt on next use)."""
        self.engine.install(pipeline, tuple(problems))
        self._report(engine=True)

    def pipeline_for(self, embedder: Embedder, problems: list[str] | None = None) -> FacePipeline:
        """A pipeline around another embedder: the detector and small-face route of the active pipeline
        when there is one, else those of the settings (slow then)."""
        current = self.engine.pipeline
        if current is not None:
            return with_embedder(current, embedder)
        return engine_module.pipeline_around(self.engine.settings, embedder, problems,
                                             engine_module.models_folder(self.path))

    def update_settings(self, settings: EngineSettings | None = None, **changes: object) -> bool:
        """New engine settings (a whole EngineSettings and/or fields to change). True when the models
        depend on what changed: the pipeline is then rebuilt on next use."""
        new = (settings or self.engine.settings).replace(**changes) if changes else (settings or self.engine.settings)
        if new == self.engine.settings:
            return False
        reload = self.engine.update(new)
        self._report(settings=True, engine=reload)
        return reload

    def check_model(self, model: str) -> None:
        """Refuse a model spec that is not the gallery's active model (when it has one)."""
        active = self.gallery.active_model()
        if active is not None and load_embedder(model).identity != active.file_hash:
            raise GalleryError(f"{model} is not the gallery's active model ({active.name}); switch with: "
                               f"rollcall model activate {model}")

    def standalone_pipeline(self, model: str = DEFAULT_EMBEDDER) -> FacePipeline:
        """A pipeline of the settings around any model, ignoring the gallery (faces, compare, evaluate)."""
        return engine_module.standalone_pipeline(self.engine.settings, model)

    # ------------------------------------------------------------------ recognising a source

    def open_run(self, source: str | int | FrameSource, session_id: int | None,
                 settings: RecognitionSettings | None = None, *, pace: str = "realtime",
                 on_event: Callable[[SourceEvent], None] | None = None, backoff: Backoff | None = None,
                 pipeline: FacePipeline | None = None) -> SourceRun:
        """A source ready to be recognised into a session (see core.service.running)."""
        return SourceRun(self, source, session_id, settings, pace=pace, on_event=on_event, backoff=backoff,
                         pipeline=pipeline)

    def run_source(self, source: str | int | FrameSource, session_id: int | None,
                   settings: RecognitionSettings | None = None, *,
                   on_report: Callable[[Frame, FrameReport], None] | None = None,
                   stop_event: threading.Event | None = None, pace: str = "realtime",
                   on_event: Callable[[SourceEvent], None] | None = None, max_seconds: float | None = None,
                   max_frames: int | None = None, backoff: Backoff | None = None) -> RunSummary:
        """Recognise `source` into the session until it ends, `stop_event` is set or a limit is reached."""
        run = self.open_run(source, session_id, settings, pace=pace, on_event=on_event, backoff=backoff)
        return run.run(on_report, stop=stop_event, max_seconds=max_seconds, max_frames=max_frames)

