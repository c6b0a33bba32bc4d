"""What the pages of the app share: settings, the application service (core.service.Rollcall: the GUI
thread's database connection, gallery, attendance and the recognition engine), the notifier and the
task runner.

Threads never share a database connection: the GUI thread uses `ctx.service` (`ctx.db`, `ctx.gallery`
and `ctx.attendance` are its read-only shortcuts), and every worker opens its own with
`ctx.service.connect()` (SQLite in WAL mode lets them read while another writes). The service's change reports become the Qt signals below in one
place, `_ChangeBridge`; pages listen to the signals and re-read core data, never patching their
tables by hand.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from core.attendance.marks import Attendance
from core.storage.db import Database
from core.errors import RollcallError
from core.gallery.store import Gallery
from core.vision.pipeline import FacePipeline
from core.service import Changes, Rollcall
from desktop.config import DesktopConfig, save_config
from desktop.notifier import Notifier
from desktop.retention import RetentionKeeper
from desktop.tasks import Task, TaskControl, TaskRunner

logger = logging.getLogger(__name__)

SMALL_FACES_TITLE = "Small faces"


class EngineNotReady(RollcallError):
    """The models are still loading (or failed to load)."""


class _ChangeBridge(QObject):
    """The service's `Changes` as the context's signals, always on the GUI thread. Reports may come from
    worker threads (a worker's `service.connect()` shares the subscribers): `relay` is connected with
    Qt's automatic connection, queued when emitted from another thread, direct on the GUI thread (so
    an operation made there has its signals emitted before it returns, as the pages expect)."""

    relay = Signal(object)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self._ctx = ctx
        self.relay.connect(self._deliver)

    def _deliver(self, changes: Changes) -> None:
        ctx = self._ctx
        if changes.engine:
            ctx.engine_changed.emit()
        if changes.gallery:
            ctx.gallery_changed.emit()
        if changes.attendance:
            ctx.attendance_changed.emit()
        if changes.settings:
            ctx.config_changed.emit()


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
        self.service = Rollcall(Database(self.db_path), config.engine)
        self._bridge = _ChangeBridge(self)
        self._unsubscribe = self.service.subscribe(self._bridge.relay.emit)
        self.engine_error: str = ""
        self.engine_loading = False
        self.retention = RetentionKeeper(self)

    # ------------------------------------------------------------------ database

    @property
    def db(self) -> Database:
        return self.service.db

    @property
    def gallery(self) -> Gallery:
        return self.service.gallery

    @property
    def attendance(self) -> Attendance:
        return self.service.attendance

    @property
    def db_path(self) -> Path:
        """--db when given, else the database in the configured data folder."""
        return self._db_override or self.config.db_path

    # ------------------------------------------------------------------ engine

    @property
    def pipeline(self) -> FacePipeline:
        pipeline = self.service.current_pipeline
        if pipeline is None:
            raise EngineNotReady(self.engine_error or "The recognition models are still loading; try again in a moment.")
        return pipeline

    @property
    def engine_ready(self) -> bool:
        return self.service.current_pipeline is not None

    @property
    def resolver_error(self) -> str:
        """Why the configured DSR model is not in use (small faces are upscaled bicubically), or ""."""
        return "\n".join(self.service.engine_problems)

    def set_pipeline(self, pipeline: FacePipeline | None) -> None:
        self.engine_error = ""
        self.service.install_pipeline(pipeline, self.service.engine_problems if pipeline is not None else ())

    def load_engine(self) -> Task:
        """Load the models in the background through the service; `engine_changed` fires when done (or
        failed). A load overtaken by newer settings or a model switch is dropped."""
        self.engine_loading = True
        service = self.service
        generation = service.engine.generation
        problems: list[str] = []  # why the DSR model is not in use, reported when the engine is ready

        def work(control: TaskControl) -> FacePipeline:
            control.progress(0, 0, "loading the recognition models")
            with service.engine.lock, service.connect() as worker:
                return worker.build_pipeline(problems)

        def done(pipeline: FacePipeline) -> None:
            self.engine_loading = False
            if service.engine.generation != generation:
                logger.info("models loaded for settings that changed meanwhile; not used")
                return
            for problem in problems:  # the engine runs; only the DSR model is not in use
                self.notifier.error(SMALL_FACES_TITLE, problem)
            self.engine_error = ""
            service.install_pipeline(pipeline, problems)

        def failed(exc: BaseException) -> None:
            self.engine_loading = False
            self.engine_error = f"The recognition models could not be loaded: {exc}"
            self.notifier.exception("Loading the models", exc)
            service.install_pipeline(None)

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
        with self.service.batch():  # one report: engine, gallery, attendance, config signals
            if db is not None:
                self.service.use_database(db)
            reload = self.service.update_settings(new.engine)
            if db is not None or reload:
                self.load_engine()
        if new.engine == old.engine:  # the service reported engine settings; the app's own are said here
            self.config_changed.emit()
        return new

    def close(self) -> None:
        self.tasks.wait(10000)
        self._unsubscribe()
        self.service.close()
