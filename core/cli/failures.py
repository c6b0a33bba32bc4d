"""How `rollcall` reports a failure: one `error: ...` line on stderr and an exit code, never a traceback.

Exit codes: 0 done; 1 the command ran but its outcome is negative (nothing usable found, nothing saved,
a question answered no, files skipped as unreadable, a bulk enrolment stopped); 2 an error (bad input,
a missing or wrong file, a damaged database, an unexpected failure; argparse's usage errors are 2 too);
130 interrupted with Ctrl+C. An unexpected exception's traceback goes to the CLI log file."""

from __future__ import annotations

import datetime as _dt
import errno
import logging
import sys
import traceback
from pathlib import Path

from core.errors import path_text
from core.paths import user_data_dir

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_NEGATIVE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130

_FIXES = {
    FileNotFoundError: "Check the path (rollcall COMMAND --help says what is expected).",
    IsADirectoryError: "It is a folder: give a file.",
    NotADirectoryError: "It is not a folder: give a folder.",
    PermissionError: "Check its permissions, or choose another place.",
    FileExistsError: "Choose another name, or move the existing one away.",
}


def log_file() -> Path:
    return user_data_dir() / "rollcall-cli.log"


def say(message: str) -> int:
    """Print `error: message` on stderr; the exit code of an error."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    return EXIT_ERROR


def describe_os_error(exc: OSError) -> str:
    """An OSError from a file the command reads or writes, in words with the path and what to do."""
    what = exc.strerror or str(exc) or type(exc).__name__
    where = f" {path_text(exc.filename)}" if exc.filename is not None else ""
    if exc.filename2 is not None:
        where += f" -> {path_text(exc.filename2)}"
    fix = next((text for kind, text in _FIXES.items() if isinstance(exc, kind)), "")
    if exc.errno == errno.ENOSPC:
        fix = "The disk is full: free some space and try again."
    return f"{what}{':' if where else ''}{where}. {fix}".strip()


def unexpected(exc: BaseException, argv: list[str] | None) -> int:
    """A failure nobody foresaw: one line on stderr, the traceback in the log file."""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8", errors="backslashreplace") as log:
            stamp = _dt.datetime.now().isoformat(timespec="seconds")
            log.write(f"{stamp} rollcall {' '.join(argv if argv is not None else sys.argv[1:])}\n{details}\n")
        where = f"details in {path_text(path)}"
    except OSError:
        where = "run again with -v for details"
    logger.info("unexpected failure\n%s", details)  # shown on stderr with -v
    message = " ".join(str(exc).split()) or "(no message)"
    return say(f"unexpected {type(exc).__name__}: {message} ({where})")
