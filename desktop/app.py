"""`rollcall-desk` / `python -m desktop`: start the desktop app.

Options for scripted runs: --source (camera number, video file or URL, used for
this run only), --db (a database file instead of the one in the data folder),
--session NAME (open or start that attendance session and start recognising at
once). --self-test [IMAGE] checks the installation without opening a window
(desktop/self_test.py) and exits 0 when it passed.

One window per database: the database's instance lock is taken before it is opened, and a second
window on it is refused (exit code 3). A database that cannot be opened (damaged, not a database)
leaves the app up with a choice: restore a backup, open another database, or quit (exit code 2).
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from core.errors import RollcallError
from core.paths import user_data_dir
from core.storage.db import DatabaseError, explain_database_error
from core.threads import apply_thread_policy
from desktop.config import DesktopConfig, config_path, load_config

logger = logging.getLogger(__name__)

EXIT_CANNOT_OPEN = 2  # the database (or the settings) cannot be opened and the operator chose to quit
EXIT_ALREADY_OPEN = 3  # another Rollcall window has the database open


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rollcall-desk", description="Rollcall: face-recognition attendance.")
    parser.add_argument("--source", help="camera number, video file or stream URL (this run only)")
    parser.add_argument("--db", type=Path, help="database file (default: rollcall.db in the data folder)")
    parser.add_argument("--session", help="open or start this attendance session and start recognising")
    parser.add_argument("--every-frame", action="store_true",
                        help="analyse every frame of a video file instead of playing it at its recorded speed")
    check = parser.add_argument_group("checking an installation (no window is opened)")
    check.add_argument("--self-test", nargs="?", const="", default=None, metavar="IMAGE",
                       help="load the models, create a database, enrol and recognise a face (the one in IMAGE, "
                            "a photo of one person, or a synthetic one), print a JSON verdict and exit: "
                            "0 passed, 1 failed")
    check.add_argument("--data-dir", type=Path, metavar="DIR",
                       help="--self-test: create its database (self-test.db) in DIR and keep it "
                            "(default: a temporary folder, deleted afterwards)")
    check.add_argument("--report", type=Path, metavar="FILE",
                       help="--self-test: also write the JSON verdict to FILE (a windowed Windows "
                            "executable has no stdout)")
    return parser.parse_args(argv)


def log_path() -> Path:
    """The app's log file, in the user data folder (rotated at 2 MB, 3 kept)."""
    return user_data_dir() / "rollcall.log"


def setup_logging() -> Path | None:
    """Log to a rotating file in the user data folder (and to stderr)."""
    # A windowed Windows executable has no stderr (sys.stderr is None): log to the file only.
    handlers: list[logging.Handler] = [logging.StreamHandler()] if sys.stderr is not None else []
    log_file: Path | None = log_path()
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8"))
    except OSError:
        log_file = None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers)
    return log_file


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.self_test is not None:
        from desktop.self_test import run_self_test

        if sys.stderr is not None:
            logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        apply_thread_policy("live")
        return run_self_test(args.self_test or None, data_dir=args.data_dir, report=args.report)
    setup_logging()
    apply_thread_policy("live")  # the live worker and the background tasks share the process's threads
    from PySide6.QtWidgets import QApplication

    from desktop.app_database import start_daily_backup
    from desktop.database_dialogs import offer_to_end_crashed_sessions
    from desktop.gc_guard import collect_on_gui_thread
    from desktop.main_window import WINDOW_STATE_FILE, MainWindow
    from desktop.notifier import Notifier

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Rollcall")
    app.setOrganizationName("Rollcall")
    collect_on_gui_thread(app)
    notifier = Notifier()
    config_problem = ""
    try:
        config = load_config()
    except RollcallError as exc:
        config, config_problem = DesktopConfig(), str(exc)
    if args.source:
        config = config.replace(source=args.source)
    if args.every_frame:
        config = config.replace(file_pace="every_frame")
    ctx = open_context(config, notifier, args.db)
    if isinstance(ctx, int):
        return ctx
    install_excepthook(notifier, lambda: ctx.db_path)
    window = MainWindow(ctx, state_file=user_data_dir() / WINDOW_STATE_FILE)
    if config_problem:
        notifier.warning("Settings", config_problem + " The default settings are used until you save new ones.")
    ctx.load_engine()
    start_daily_backup(ctx)
    window.show()
    try:
        offer_to_end_crashed_sessions(window, ctx)
    except RollcallError as exc:
        notifier.exception("Sessions", exc)
    if args.session:
        window.live.start_when_ready(args.session)
    code = app.exec()
    window.shutdown()  # also when the app was quit some other way than closing the window
    return code


def _take_lock(path: Path):
    """The instance lock of `path`, or EXIT_ALREADY_OPEN / EXIT_CANNOT_OPEN after saying why not."""
    from PySide6.QtWidgets import QMessageBox

    from core.storage.instance_lock import AlreadyOpenError, InstanceLock

    try:
        return InstanceLock(path).acquire()
    except AlreadyOpenError as exc:
        logger.error("%s", exc)
        QMessageBox.critical(None, "Rollcall is already open", str(exc))
        return EXIT_ALREADY_OPEN
    except RollcallError as exc:
        QMessageBox.critical(None, "Rollcall cannot start", str(exc))
        return EXIT_CANNOT_OPEN


def open_context(config: DesktopConfig, notifier, db_path: Path | None):
    """The app's context on its database, holding the database's one-window lock; or the exit code
    when the app cannot go on. A database that fails to open is not fatal: the operator may restore
    a backup into it or open another database (each tried in turn), or quit."""
    from PySide6.QtWidgets import QMessageBox

    from core.storage.backup import restore_database
    from desktop.app_database import LockedContext
    from desktop.database_dialogs import (
        OTHER, RESTORE, ask_about_unopenable_database, choose_backup, choose_database_file,
    )
    from desktop.tasks import TaskRunner

    path = Path(db_path) if db_path is not None else config.db_path
    lock = _take_lock(path)
    if isinstance(lock, int):
        return lock
    while True:
        try:
            return LockedContext(config, notifier, TaskRunner(notifier), lock, config_file=config_path(), db_path=db_path)
        except DatabaseError as exc:
            logger.error("cannot open the database %s: %s", path, exc)
            problem: RollcallError = exc
        except RollcallError as exc:
            lock.release()
            QMessageBox.critical(None, "Rollcall cannot start", str(exc))
            return EXIT_CANNOT_OPEN
        choice = ask_about_unopenable_database(None, path, problem)
        if choice == RESTORE:
            backup = choose_backup(None, path)
            if backup is not None:
                try:
                    restore_database(backup, path)
                except RollcallError as exc:
                    QMessageBox.critical(None, "The backup was not restored", str(exc))
        elif choice == OTHER:
            other = choose_database_file(None, path.parent)
            if other is None or other.absolute().resolve() == path.absolute().resolve():
                continue
            other_lock = _take_lock(other)
            if isinstance(other_lock, int):
                continue
            lock.release()
            lock, path, db_path = other_lock, other, other
        else:
            lock.release()
            return EXIT_CANNOT_OPEN


def install_excepthook(notifier, db_path: Callable[[], Path] | None = None) -> None:
    """An exception escaping a Qt slot reaches the notifier instead of vanishing (or aborting). A
    database error is shown as such, naming the file (`db_path()`: the database in use); the app
    stays up."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, value, tb)
            return
        value.__traceback__ = tb
        if isinstance(value, sqlite3.Error) and db_path is not None:
            logger.error("database error escaped", exc_info=(kind, value, tb))
            notifier.exception("Database", explain_database_error(value, db_path()))
        elif isinstance(value, DatabaseError):
            notifier.exception("Database", value)
        else:
            notifier.exception("Unexpected error", value)

    sys.excepthook = hook
