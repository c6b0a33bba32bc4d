"""`rollcall-desk` / `python -m desktop`: start the desktop app.

Options for scripted runs: --source (camera number, video file or URL, used for
this run only), --db (a database file instead of the one in the data folder),
--session NAME (open or start that attendance session and start recognising at
once). --self-test [IMAGE] checks the installation without opening a window
(desktop/self_test.py) and exits 0 when it passed.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import sys
from pathlib import Path

from core.errors import RollcallError
from core.paths import user_data_dir
from desktop.config import DesktopConfig, config_path, load_config

logger = logging.getLogger(__name__)


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


def setup_logging() -> Path | None:
    """Log to a rotating file in the user data folder (and to stderr)."""
    # A windowed Windows executable has no stderr (sys.stderr is None): log to the file only.
    handlers: list[logging.Handler] = [logging.StreamHandler()] if sys.stderr is not None else []
    log_file: Path | None = user_data_dir() / "rollcall.log"
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
        return run_self_test(args.self_test or None, data_dir=args.data_dir, report=args.report)
    setup_logging()
    from PySide6.QtWidgets import QApplication, QMessageBox

    from desktop.context import AppContext
    from desktop.main_window import WINDOW_STATE_FILE, MainWindow
    from desktop.notifier import Notifier
    from desktop.tasks import TaskRunner

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Rollcall")
    app.setOrganizationName("Rollcall")
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
    try:
        ctx = AppContext(config, notifier, TaskRunner(notifier), config_file=config_path(), db_path=args.db)
    except RollcallError as exc:
        QMessageBox.critical(None, "Rollcall cannot start", str(exc))
        return 2
    install_excepthook(notifier)
    window = MainWindow(ctx, state_file=user_data_dir() / WINDOW_STATE_FILE)
    if config_problem:
        notifier.warning("Settings", config_problem + " The default settings are used until you save new ones.")
    ctx.load_engine()
    if args.session:
        window.live.start_when_ready(args.session)
    window.show()
    code = app.exec()
    window.shutdown()  # also when the app was quit some other way than closing the window
    return code


def install_excepthook(notifier) -> None:
    """An exception escaping a Qt slot reaches the notifier instead of vanishing (or aborting)."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, value, tb)
            return
        value.__traceback__ = tb
        notifier.exception("Unexpected error", value)

    sys.excepthook = hook
