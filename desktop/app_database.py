"""The app's hold on its database: the one-window lock (core.storage.instance_lock) taken before the
database is opened and moved with it when the data folder changes, the day's automatic backup, and
opening the database again after a restore replaced its register."""

from __future__ import annotations

import logging
from pathlib import Path

from core.errors import RollcallError
from core.storage.backup import daily_backup
from core.storage.instance_lock import InstanceLock
from desktop.config import DesktopConfig
from desktop.context import AppContext
from desktop.notifier import Notifier
from desktop.tasks import Task, TaskRunner

logger = logging.getLogger(__name__)


class LockedContext(AppContext):
    """An AppContext that holds its database's instance lock (acquired by the caller, so that a second
    window is refused before anything is opened) and releases it on close. A new data folder takes
    the new database's lock first: a database another window has open is refused like a bad setting."""

    def __init__(self, config: DesktopConfig, notifier: Notifier, tasks: TaskRunner, lock: InstanceLock,
                 config_file: Path | None = None, db_path: Path | None = None) -> None:
        super().__init__(config, notifier, tasks, config_file=config_file, db_path=db_path)
        self.instance_lock = lock

    def update_config(self, **changes: object) -> DesktopConfig:
        new_path = self.config.replace(**changes).db_path if self._db_override is None else self.db_path
        if new_path == self.db_path:
            return super().update_config(**changes)
        lock = InstanceLock(new_path).acquire()  # AlreadyOpenError (a RollcallError): the settings stay
        try:
            result = super().update_config(**changes)
        except BaseException:
            lock.release()
            raise
        old, self.instance_lock = self.instance_lock, lock
        old.release()
        return result

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.instance_lock.release()


def reopen_database(ctx: AppContext) -> None:
    """Open the context's database file again (after a restore): every page re-reads it. The models
    stay loaded when the register's active model is the one in use, else they are loaded again."""
    service = ctx.service
    pipeline, problems = service.current_pipeline, service.engine_problems
    service.use_database(ctx.db_path)  # opened (and checked) before the old connection is closed
    active = ctx.gallery.active_model()
    if pipeline is not None and active is not None and active.file_hash == pipeline.embedder.identity:
        service.install_pipeline(pipeline, problems)
    else:
        ctx.load_engine()


def start_daily_backup(ctx: AppContext) -> Task:
    """The day's automatic backup (core.storage.backup.daily_backup) in the background, on its own
    connection; a failure is a warning for the operator, not a reason to stop."""
    def work(_control) -> Path | None:
        with ctx.service.connect() as worker:
            return daily_backup(worker.db)

    def failed(exc: BaseException) -> None:
        if isinstance(exc, RollcallError):
            ctx.notifier.warning("Daily backup", f"{exc} The app goes on without today's backup.")
        else:
            ctx.notifier.exception("Daily backup", exc)

    def done(written: Path | None) -> None:
        if written is not None:
            logger.info("daily backup: %s", written)

    return ctx.tasks.run("Daily backup", work, on_done=done, on_failed=failed)
