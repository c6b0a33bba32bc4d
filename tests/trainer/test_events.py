"""The event stream: every kind round-trips, the documented examples parse, garbage never crashes a reader."""

from __future__ import annotations

import io
import json
import math
import re

import pytest

from tests.conftest import REPO
from trainer.events import (
    EVENT_TYPES, SCHEMA_VERSION, CheckpointSaved, DatasetSummary, Epoch, ErrorEvent, EventError, EventWriter, Finished,
    Prepare, RunStarted, Step, UnknownEventKind, Validation, WarningEvent, emit, parse_event, to_line,
)

SAMPLES = [
    RunStarted(job="train-dsr", run_dir="runs/x", device="cpu", amp=False, config={"lr": 0.001},
               start_step=0, total_steps=10),
    Step(step=1, epoch=0, total_steps=10, losses={"l1": 0.5, "total": 0.5}, lr=1e-3, samples_per_s=12.5, eta_s=3.0),
    Epoch(epoch=0, step=5, losses={"total": 0.4}, skipped_batches=1),
    Step(step=2, epoch=0, total_steps=10, losses={"arcface": 9.1, "alignment": 0.4, "total": 9.2}, lr=3e-5,
         samples_per_s=20.0, eta_s=2.0, stage=2),
    Validation(step=5, epoch=0, metrics={"similarity": 0.5, "accuracy": None}, best_metric="similarity",
               best_value=0.5, is_best=True, stage=1),
    Validation(step=5, epoch=0, metrics={"psnr": 24.0, "identity": 0.9}, best_metric="identity",
               best_value=0.9, is_best=True),
    CheckpointSaved(step=5, path="runs/x/best.pt", tag="best"),
    WarningEvent(message="batch skipped", step=3),
    DatasetSummary(manifest="runs/ds/manifest.json", split="images", subjects=3, train_subjects=3, val_subjects=3,
                   train_images=12, val_images=3, dropped_subjects={"Solo": 2}, no_face=1, duplicates=0),
    WarningEvent(message="no step yet"),
    ErrorEvent(message="Lower lr.", error_type="nonfinite_loss", step=4),
    Finished(status="completed", step=10, elapsed_s=1.5, summary={"best": "runs/x/best.pt"}),
    Finished(status="failed", step=None, elapsed_s=0.0),
    Prepare(phase="faces", done=3, total=9, cached=2),  # revision 2: last, so the indices above stay
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.kind)
def test_every_kind_round_trips_through_one_json_line(event):
    line = to_line(event)
    assert "\n" not in line
    data = json.loads(line)
    assert data["schema"] == SCHEMA_VERSION and data["event"] == event.kind and isinstance(data["time"], float)
    assert parse_event(line) == event
    assert parse_event(line.encode("utf-8") + b"\n") == event


def test_every_kind_is_sampled_here():
    assert {e.kind for e in SAMPLES} == set(EVENT_TYPES)


def test_the_documented_example_of_every_kind_parses():
    text = (REPO / "docs" / "TRAINER_EVENTS.md").read_text(encoding="utf-8")
    examples = re.findall(r"```json\n(.*?)\n```", text, flags=re.S)
    parsed = [parse_event(example) for example in examples]
    assert {e.kind for e in parsed} == set(EVENT_TYPES)


def test_a_kind_of_a_later_revision_is_an_unknown_kind_a_reader_may_skip():
    with pytest.raises(UnknownEventKind, match="unknown event kind 'novelty'"):
        parse_event('{"schema": 1, "event": "novelty", "time": 1.0, "anything": 2}')
    with pytest.raises(EventError) as caught:
        parse_event('{"schema": 1, "event": 7, "time": 1.0}')
    assert not isinstance(caught.value, UnknownEventKind)  # not a kind at all: a broken line


def test_emit_writes_a_flushed_line_to_the_stream_and_appends_to_events_jsonl(tmp_path):
    stream = io.StringIO()
    writer = EventWriter(tmp_path / "events.jsonl", stream)
    emit(SAMPLES[0], writer)
    emit(SAMPLES[1], writer)
    lines = stream.getvalue().splitlines()
    assert [parse_event(x).kind for x in lines] == ["run_started", "step"]
    assert (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines() == lines


def test_emit_without_a_writer_goes_to_stdout(capsys):
    emit(WarningEvent(message="hello"))
    out = capsys.readouterr().out
    assert parse_event(out) == WarningEvent(message="hello")


def test_non_finite_numbers_become_null_and_still_parse():
    line = to_line(Step(step=1, epoch=0, total_steps=2, losses={"l1": math.nan}, lr=math.inf,
                        samples_per_s=1.0, eta_s=0.0))
    data = json.loads(line)
    assert data["losses"]["l1"] is None and data["lr"] is None
    assert parse_event(line).lr is None


def test_unknown_fields_are_ignored_for_forward_compatibility():
    data = json.loads(to_line(SAMPLES[4]))
    data["added_later"] = [1, 2]
    assert parse_event(json.dumps(data)) == SAMPLES[4]


def _bad(**changes):
    data = json.loads(to_line(SAMPLES[1]))
    for key, value in changes.items():
        if value is KeyError:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data)


@pytest.mark.parametrize("line, problem", [
    ("", "empty"),
    ("   \n", "empty"),
    ("Traceback (most recent call last):", "not JSON"),
    ("{\"schema\": 1, \"event\": ", "not JSON"),
    ("[1, 2, 3]", "JSON object"),
    ("42", "JSON object"),
    ("null", "JSON object"),
    (b"\xff\xfe{}", "UTF-8"),
    ("[" * 100000 + "]" * 100000, "not JSON"),
    ("x" * 2_000_000, "too long"),
    (_bad(schema=2), "schema"),
    (_bad(schema=True), "schema"),
    (_bad(schema=KeyError), "schema"),
    (_bad(event="explosion"), "unknown event kind"),
    (_bad(event=7), "unknown event kind"),
    (_bad(time="now"), "time"),
    (_bad(step=KeyError), "missing field 'step'"),
    (_bad(step="1"), "'step' has the wrong type"),
    (_bad(step=1.5), "'step' has the wrong type"),
    (_bad(step=True), "'step' has the wrong type"),
    (_bad(losses=[1]), "'losses' has the wrong type"),
    (_bad(lr="fast"), "'lr' has the wrong type"),
    (json.dumps({**json.loads(to_line(SAMPLES[-2])), "status": "exploded"}), "unknown status"),
])
def test_garbage_raises_event_error_never_anything_else(line, problem):
    with pytest.raises(EventError, match=problem):
        parse_event(line)


def test_event_error_is_a_value_error():
    assert issubclass(EventError, ValueError)
    with pytest.raises(ValueError):
        parse_event("nope")
    with pytest.raises(EventError):
        parse_event(None)  # type: ignore[arg-type]
