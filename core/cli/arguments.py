"""Argument types for the `rollcall` parser: numbers are checked where they are read, so a bad one is an
argparse usage error (exit code 2, with the option named) instead of a failure deep inside a command."""

from __future__ import annotations

import argparse
import math


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        words = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"'{text}' is not {words}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return value


def positive_int(text: str) -> int:
    """A whole number of at least 1 (counts: images per subject, frames, captures, K, N)."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small: give 1 or more")
    return value


def non_negative_int(text: str) -> int:
    """A whole number of at least 0 (e.g. --jitters 0 for no moved copies)."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative: give 0 or more")
    return value


def non_negative_float(text: str) -> float:
    """A finite number of at least 0 (seconds, days, margins)."""
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value:g} is negative: give 0 or more")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0 (e.g. --max-seconds)."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value:g} is not above 0")
    return value


def similarity(text: str) -> float:
    """A cosine similarity threshold: a finite number from -1 to 1 (e.g. 0.6)."""
    value = _number(text, float)
    if not -1.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value:g} is not a similarity: give a number from -1 to 1, e.g. 0.6")
    return value


def fraction(text: str) -> float:
    """A rate strictly between 0 and 1 (e.g. a false-accept rate of 0.001)."""
    value = _number(text, float)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{value:g} is not a rate: give a fraction between 0 and 1, e.g. 0.001")
    return value
