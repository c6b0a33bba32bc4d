"""What the gallery stores and hands out: its errors, its records built from database rows, vectors as blobs.

Rows are read with sqlite-utils as dicts (`rows`, `get_row`) and turned into
the frozen dataclasses here by column name (`from_row`), never by position.
"""

from __future__ import annotations

import datetime as _dt
import re
import sqlite3
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import numpy as np
from sqlite_utils.db import NotFoundError as NoSuchRow

from core.storage.db import Database
from core.errors import RollcallError, path_text

T = TypeVar("T")


class GalleryError(RollcallError):
    """A gallery operation cannot be done as asked."""


class NotFoundError(GalleryError):
    """No such person, sample or model."""


class CancelledError(GalleryError):
    """The operator cancelled a long operation; nothing was switched."""


def now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norm, 1e-12)


def to_blob(v: np.ndarray) -> bytes:
    return np.asarray(v, dtype="<f4").tobytes()


def from_blob(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<f4")


@dataclass(frozen=True)
class ModelRecord:
    id: int
    name: str
    arch: str
    file_hash: str
    source: str
    dim: int
    threshold: float
    threshold_origin: str


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    external_id: str | None
    groups: tuple[str, ...]  # the names of the groups they are in, sorted
    notes: str
    created_at: str
    updated_at: str
    n_samples: int


@dataclass(frozen=True)
class SampleInfo:
    id: int
    person_id: int
    face_size: float
    sharpness: float
    yaw: float
    det_score: float
    source: str
    captured_at: str


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 4000


def clean_name(value: str | None, what: str = "a person", *, required: bool = True) -> str:
    """A name or id as typed or imported, made safe to store and show: control characters (ESC, NUL,
    line breaks...) removed, spaces trimmed, at most MAX_NAME_CHARS characters, and text that is not valid
    Unicode (a folder name in another encoding) shown as `path_text` escapes. The one rule for the names
    of people, groups and sessions and for External IDs."""
    text = " ".join(_CONTROL.sub(" ", path_text(value or "")).split())
    if required and not text:
        raise GalleryError(f"{what} needs a name")
    if len(text) > MAX_NAME_CHARS:
        raise GalleryError(f"the name of {what} is {len(text)} characters long; at most {MAX_NAME_CHARS} please")
    return text


def clean_text(value: str | None, what: str = "the text", *, multiline: bool = False,
               max_chars: int = MAX_TEXT_CHARS) -> str:
    """Free text as typed or imported (notes, an operator's name, a reason), made safe to store, show and
    export: control characters removed, spaces trimmed, at most `max_chars` characters. With `multiline`
    (notes) line breaks are kept, as \\n, at most one blank line in a row; otherwise the text is one line.
    The sibling of `clean_name` for every stored text that is not a name."""
    text = path_text(value or "")  # lone surrogates (a name that is not UTF-8) as \xNN: SQLite refuses them
    if not multiline:
        text = " ".join(_CONTROL.sub(" ", text).split())
    else:
        lines = [" ".join(_CONTROL.sub(" ", line).split())
                 for line in _CONTROL_BUT_NEWLINE.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n")).split("\n")]
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    if len(text) > max_chars:
        raise GalleryError(f"{what} is {len(text)} characters long; at most {max_chars} please")
    return text


def from_row(cls: type[T], row: dict[str, Any]) -> T:
    """A dataclass from a row dict, by field name; columns the class does not have are ignored."""
    return cls(**{f.name: row[f.name] for f in fields(cls)})  # type: ignore[arg-type]


def rows(db: Database, sql: str, params: tuple | list | dict = ()) -> list[dict[str, Any]]:
    """All rows of a query as dicts (sqlite-utils), with database trouble explained as `core.storage.db` does."""
    try:
        return list(db.db.query(sql, params))
    except sqlite3.OperationalError as exc:
        raise db._explain(exc) from None  # locked, damaged: the same message every core.storage.db call gives


def get_row(db: Database, table: str, pk: Any, what: str) -> dict[str, Any]:
    """The row of `table` with primary key `pk`; NotFoundError naming `what` when there is none."""
    try:
        return db.db.table(table).get(pk)
    except NoSuchRow:
        raise NotFoundError(f"no {what} with id {pk} in {db.label} (deleted meanwhile? refresh the list)") from None
    except sqlite3.OperationalError as exc:
        raise db._explain(exc) from None
