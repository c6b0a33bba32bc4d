"""The trainer's event stream: one JSON object per line on stdout, schema in docs/TRAINER_EVENTS.md.

Every event carries `schema` (SCHEMA_VERSION), `event` (its kind), `time`
(Unix seconds) and the fields of its dataclass below. `emit` writes the line to
stdout (flushed at once, so a reading process sees it immediately) and appends
it to the run folder's events.jsonl. `parse_event` turns a line back into the
dataclass and raises `EventError` for anything else: a reader (the desktop
dashboard) can feed it every line it gets and never crash on garbage.

Readers ignore fields they do not know (a newer trainer may add some); a
different `schema` number means an incompatible stream and is refused. A
revision of schema 1 may add kinds (revision 2: `prepare`): `parse_event`
raises `UnknownEventKind` for those, which a reader may skip.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import sys
import threading
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, Union

SCHEMA_VERSION = 1
SCHEMA_REVISION = 2  # compatible additions to schema 1 (2: the `prepare` kind); not written in events
MAX_LINE_CHARS = 1_000_000  # a longer line is refused unread: no event comes near this


class EventError(ValueError):
    """A line that is not a valid trainer event; the message says what is wrong with it."""


class UnknownEventKind(EventError):
    """A schema-1 event of a kind this reader does not know (a newer revision's): safe to skip."""


@dataclass(frozen=True)
class RunStarted:
    kind: ClassVar[str] = "run_started"
    job: str
    run_dir: str
    device: str  # "cpu", "cuda" or "cuda:N"
    amp: bool
    config: dict
    start_step: int  # 0 for a new run, the checkpoint's step when resuming
    total_steps: int
    resumed: bool = False


@dataclass(frozen=True)
class Prepare:
    """Data preparation before the first step (schema 1 revision 2): `done` of `total` items read."""

    kind: ClassVar[str] = "prepare"
    phase: str  # what is being prepared: "faces"
    done: int
    total: int
    cached: int = 0  # of `done`, how many came from the run folder's cache (a resume)


@dataclass(frozen=True)
class Step:
    kind: ClassVar[str] = "step"
    step: int  # batches done so far (1 after the first)
    epoch: int  # 0-based
    total_steps: int
    losses: dict  # name -> value, unweighted; "total" is the weighted sum that was minimised
    lr: float
    samples_per_s: float
    eta_s: float  # seconds until total_steps at the current speed
    phase: str | None = None  # what the steps are when they are not training batches (eval-lowres: "hr", "16px")
    stage: int | None = None  # finetune: 1 (head only, backbone frozen) or 2 (whole model)


@dataclass(frozen=True)
class Epoch:
    kind: ClassVar[str] = "epoch"
    epoch: int  # the 0-based epoch that just ended
    step: int
    losses: dict  # mean of each named loss over the epoch's good batches
    skipped_batches: int
    stage: int | None = None  # finetune: the stage the epoch belonged to


@dataclass(frozen=True)
class Validation:
    kind: ClassVar[str] = "validation"
    step: int
    epoch: int
    metrics: dict  # name -> value, e.g. psnr, ssim, identity
    best_metric: str  # the metric that chooses best.pt
    best_value: float
    is_best: bool
    stage: int | None = None  # finetune: the stage of the model being validated


@dataclass(frozen=True)
class DatasetSummary:
    kind: ClassVar[str] = "dataset_summary"
    manifest: str  # the manifest file written
    split: str  # "images" (same people both sides, different images) or "subjects" (people held out)
    subjects: int  # kept subjects
    train_subjects: int
    val_subjects: int
    train_images: int
    val_images: int
    dropped_subjects: dict  # subject -> usable images, for those below min_images
    no_face: int = 0  # images without a usable face
    duplicates: int = 0  # byte-identical images left out


@dataclass(frozen=True)
class CheckpointSaved:
    kind: ClassVar[str] = "checkpoint"
    step: int
    path: str
    tag: str  # "last" or "best"


@dataclass(frozen=True)
class WarningEvent:
    kind: ClassVar[str] = "warning"
    message: str
    step: int | None = None


@dataclass(frozen=True)
class ErrorEvent:
    kind: ClassVar[str] = "error"
    message: str  # for the operator: what failed and what to do
    error_type: str  # exception class name, or a short code such as "nonfinite_loss"
    step: int | None = None


@dataclass(frozen=True)
class Finished:
    kind: ClassVar[str] = "finished"
    status: str  # one of FINISH_STATUSES
    step: int | None  # None when the job failed before it had a step count
    elapsed_s: float
    summary: dict = field(default_factory=dict)  # best metrics, paths of last.pt / best.pt, ...


FINISH_STATUSES = ("completed", "early_stopped", "time_limit", "stopped", "failed")

Event = Union[RunStarted, Prepare, Step, Epoch, Validation, DatasetSummary, CheckpointSaved, WarningEvent, ErrorEvent,
              Finished]
EVENT_TYPES: dict[str, type] = {
    cls.kind: cls
    for cls in (RunStarted, Prepare, Step, Epoch, Validation, DatasetSummary, CheckpointSaved, WarningEvent, ErrorEvent,
                Finished)
}
ENVELOPE = ("schema", "event", "time")


def to_dict(event: Event, now: float | None = None) -> dict:
    body = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    return {"schema": SCHEMA_VERSION, "event": event.kind, "time": time.time() if now is None else now, **body}


def to_line(event: Event, now: float | None = None) -> str:
    """The event as one line of JSON (no newline). Non-finite floats become null (JSON has none)."""
    return json.dumps(_finite(to_dict(event, now)), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


class EventWriter:
    """Writes events to stdout and to a run folder's events.jsonl (appending, so resumed runs continue it)."""

    def __init__(self, jsonl_path: str | Path | None = None, stream: IO[str] | None = None) -> None:
        self.jsonl_path = Path(jsonl_path) if jsonl_path else None
        self._stream = stream
        self._lock = threading.Lock()

    def emit(self, event: Event) -> dict:
        line = to_line(event)
        with self._lock:
            stream = self._stream or sys.stdout  # looked up late: tests swap sys.stdout
            stream.write(line + "\n")
            stream.flush()
            if self.jsonl_path is not None:
                with self.jsonl_path.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
        return json.loads(line)


_default_writer = EventWriter()


def emit(event: Event, writer: EventWriter | None = None) -> dict:
    """Write `event` as one JSON line (stdout, plus the writer's events.jsonl); returns what was written."""
    return (writer or _default_writer).emit(event)


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """The resolved field types of an event class (resolving them is most of the cost of parsing a line)."""
    return typing.get_type_hints(cls)


def parse_event(line: str | bytes) -> Event:
    """The event on one line of trainer output; `EventError` says why a line is not one."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise EventError("not UTF-8 text") from None
    if not isinstance(line, str):
        raise EventError(f"expected a line of text, got {type(line).__name__}")
    if len(line) > MAX_LINE_CHARS:
        raise EventError(f"line too long ({len(line)} characters)")
    text = line.strip()
    if not text:
        raise EventError("empty line")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise EventError(f"not JSON ({exc.__class__.__name__}: {str(exc)[:80]})") from None
    return event_from_dict(data)


def event_from_dict(data: object) -> Event:
    if not isinstance(data, dict):
        raise EventError(f"expected a JSON object, got {type(data).__name__}")
    schema = data.get("schema")
    if schema != SCHEMA_VERSION or isinstance(schema, bool):
        raise EventError(f"unsupported schema {schema!r} (this reader understands schema {SCHEMA_VERSION})")
    kind = data.get("event")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        if isinstance(kind, str) and kind:
            raise UnknownEventKind(f"unknown event kind {kind!r} (known: {', '.join(EVENT_TYPES)})")
        raise EventError(f"unknown event kind {kind!r} (known: {', '.join(EVENT_TYPES)})")
    if not _is_number(data.get("time")):
        raise EventError(f"{kind}: 'time' must be a number")
    hints = _type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise EventError(f"{kind}: missing field '{f.name}'")
            continue
        value = data[f.name]
        if not _matches(value, hints[f.name]):
            raise EventError(f"{kind}: field '{f.name}' has the wrong type ({type(value).__name__})")
        values[f.name] = float(value) if hints[f.name] is float and value is not None else value
    if cls is Finished and values["status"] not in FINISH_STATUSES:
        raise EventError(f"finished: unknown status {values['status']!r}")
    return cls(**values)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _matches(value: object, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return _is_number(value) or value is None  # null stands for NaN / infinity
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is bool:
        return isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is dict:
        return isinstance(value, dict)
    return False
