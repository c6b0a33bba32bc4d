"""CLI commands about attendance: session, run (the headless live loop), export."""

from __future__ import annotations

import argparse
import sys
import time

from core.cli.context import Context
from core.attendance.grabber import SourceEvent
from core.attendance.sources import FrameSource
from core.attendance.recogniser import RecognitionSettings
from core.attendance.tracking import VotePolicy


def cmd_session(ctx: Context, args: argparse.Namespace) -> int:
    service = ctx.service
    action = args.session_action or "list"
    if action == "start":
        s = service.start_session(args.name, args.group or None)
        print(f"started session '{s.name}' (id {s.id}) at {s.started_at}")
    elif action == "stop":
        s = service.stop_session(service.find_session(args.name).id)
        print(f"stopped session '{s.name}' at {s.ended_at}")
    else:
        sessions = service.attendance.sessions()
        if not sessions:
            print("no sessions yet")
        for s in sessions:
            marks = len(service.attendance.marks(s.id))
            state = "open" if s.open else f"ended {s.ended_at}"
            print(f"{s.id:4d}  {s.name}  {s.group_name}  started {s.started_at}  {state}  {marks} marked")
    return 0


def _say_source_event(event: SourceEvent) -> None:
    if event.kind in ("lost", "reconnected", "failed"):
        print(event.message, file=sys.stderr)


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    """The service's run loop over core.attendance.grabber' grabber: a video file frame by frame (reproducible), a
    camera or stream live (newest frame, reconnected with back-off)."""
    service = ctx.service
    session = service.open_or_start(args.session, args.group or None)
    purged = service.purge_unknown(args.retention_days)
    if purged:
        print(f"deleted {purged} unknown-face record(s) older than {args.retention_days:g} days")
    settings = RecognitionSettings(vote=VotePolicy(args.k, args.n), margin=args.margin, threshold=args.threshold,
                                   record_unknown=args.record_unknown)
    source = FrameSource(args.source)
    run = service.open_run(source, session.id, settings, pace="every_frame" if source.is_file else "realtime",
                           on_event=_say_source_event, pipeline=ctx.pipeline)
    recogniser = run.recogniser
    if len(recogniser.index) == 0:
        print("the gallery is empty: enrol people first", file=sys.stderr)
        return 1
    print(f"session '{session.name}': watching {source.label} with {len(recogniser.index)} people enrolled "
          f"(threshold {recogniser.threshold:.3f}, {args.k} of {args.n} frames); Ctrl+C stops")
    frames = 0
    started = time.monotonic()

    def on_report(frame, report) -> None:  # noqa: ANN001
        nonlocal frames
        frames += 1
        for mark in report.new_marks:
            sure = f" (confidence {mark.confidence})" if mark.confidence is not None else ""
            print(f"{frame.t:8.2f}s  marked {mark.person_name}{sure}")

    try:
        run.run(on_report, max_seconds=args.max_seconds)
    except KeyboardInterrupt:
        print("stopped")
    elapsed = time.monotonic() - started
    marked = service.attendance.marks(session.id)
    print(f"{frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.1f} fps); "
          f"{len(marked)} marked in '{session.name}': " + ", ".join(m.person_name for m in marked))
    return 0


def cmd_export(ctx: Context, args: argparse.Namespace) -> int:
    session_id = ctx.service.find_session(args.session).id if args.session else None
    if session_id is None and not (args.start or args.end):
        print("choose --session NAME or a date range (--from/--to)", file=sys.stderr)
        return 2
    rows, path = ctx.service.export_register(args.out, session_id=session_id, start=args.start, end=args.end,
                                             fmt=args.format)
    print(f"wrote {rows} register rows to {path}")
    return 0
