"""CLI commands about attendance: session, run (the headless live loop), export."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.cli.console import Progress
from core.cli.context import Context
from core.errors import InputPathError
from core.cli.register_cmds import print_register
from core.attendance.grabber import SourceEvent
from core.attendance.sources import FrameSource
from core.attendance.recogniser import RecognitionSettings
from core.attendance.tracking import VotePolicy


def cmd_session(ctx: Context, args: argparse.Namespace) -> int:
    service = ctx.service
    action = args.session_action or "list"
    if action == "start":
        s = service.start_session(args.name, args.group or None, scheduled_start=args.start,
                                  late_after_min=args.late_after)
        expects = f", expecting {service.register(s.id).expected} of group '{s.group_name}'" if s.group_name else ""
        print(f"started session '{s.name}' (id {s.id}) at {s.started_at}{expects}")
        if s.scheduled_start or s.late_after_min is not None:
            late = f"; late after {s.late_after_min} min" if s.late_after_min is not None else ""
            print(f"scheduled start {s.scheduled_start or s.started_at}{late}")
    elif action == "stop":
        s = service.stop_session(service.find_session(args.name).id)
        print(f"stopped session '{s.name}' at {s.ended_at}")
        print_register(service.register(s.id), lines=False)
    else:
        group = getattr(args, "group", None)
        sessions = service.attendance.sessions(service.group(group).id if group else None)
        if not sessions:
            print("no sessions yet" + (f" of group '{group}'" if group else ""))
        for s in sessions:
            marks = len(service.attendance.marks(s.id))
            state = "open" if s.open else f"ended {s.ended_at}"
            print(f"{s.id:4d}  {s.name}  {f'group {s.group_name}' if s.group_name else 'no group'}  "
                  f"started {s.started_at}  {state}  {marks} marked")
    return 0


def _say_source_event(event: SourceEvent) -> None:
    if event.kind in ("lost", "reconnected", "failed"):
        print(event.message, file=sys.stderr)


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    """The service's run loop over core.attendance.grabber' grabber: a video file frame by frame (reproducible), a
    camera or stream live (newest frame, reconnected with back-off)."""
    source = FrameSource(args.source)
    # bad -k/-n: refused before anything changes. A camera or stream is detected on a thread of its own; a
    # file frame by frame, in step, so that it gives the same marks on any machine.
    settings = RecognitionSettings(vote=VotePolicy(args.k, args.n), margin=args.margin, threshold=args.threshold,
                                   record_unknown=args.record_unknown, background_detection=not source.is_file)
    if source.is_file and not Path(args.source).is_file():
        problem = "this is a folder, not a video" if Path(args.source).is_dir() else "no such video file"
        raise InputPathError(args.source, problem, "Give a video file, a camera number (0) or a stream URL.")
    service = ctx.service
    session = service.open_or_start(args.session, args.group or None)
    purged = service.purge_unknown(args.retention_days)
    if purged:
        print(f"deleted {purged} unknown-face record(s) older than {args.retention_days:g} days")
    run = service.open_run(source, session.id, settings, pace="every_frame" if source.is_file else "realtime",
                           on_event=_say_source_event, pipeline=ctx.pipeline)
    recogniser = run.recogniser
    if len(recogniser.index) == 0:
        print("the gallery is empty: enrol people first", file=sys.stderr)
        return 1
    print(f"session '{session.name}': watching {source.label} with {len(recogniser.index)} people enrolled "
          f"(threshold {recogniser.threshold:.3f}, {args.k} of {args.n} frames); Ctrl+C stops", flush=True)
    frames = 0
    started = time.monotonic()
    heartbeat = Progress("frames")  # into a log or pipe: a line every 10 s; at a terminal the marks suffice

    def on_report(frame, report) -> None:  # noqa: ANN001
        nonlocal frames
        frames += 1
        for mark in report.new_marks:
            sure = f" (confidence {mark.confidence})" if mark.confidence is not None else ""
            print(f"{frame.t:8.2f}s  marked {mark.person_name}{sure}", flush=True)
        if not heartbeat.tty:
            total = source.frame_count if source.is_file else 0
            heartbeat(frames, min(total, args.max_frames) if total and args.max_frames else total)

    try:
        run.run(on_report, max_seconds=args.max_seconds, max_frames=args.max_frames)
    except KeyboardInterrupt:
        print("stopped")
    elapsed = time.monotonic() - started
    marked = service.attendance.marks(session.id)
    print(f"{frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.1f} fps); "
          f"{len(marked)} marked in '{session.name}': " + ", ".join(m.person_name for m in marked))
    if session.group_id is not None:
        print(service.register(session.id).summary())
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
