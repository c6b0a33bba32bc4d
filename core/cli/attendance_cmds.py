"""CLI commands about attendance: session, run (the headless live loop), export."""

from __future__ import annotations

import argparse
import datetime
import sys
import time

from core.attendance.marks import export_marks
from core.cli.context import Context
from core.gallery.store import NotFoundError
from core.attendance.sources import FrameSource, SourceError
from core.attendance.recogniser import RecognitionSettings, Recogniser
from core.attendance.tracking import VotePolicy


def _session(ctx: Context, name: str):
    session = ctx.attendance.find_session(name)
    if session is None:
        raise NotFoundError(f"no session called '{name}' (rollcall session list)")
    return session


def cmd_session(ctx: Context, args: argparse.Namespace) -> int:
    action = args.session_action or "list"
    if action == "start":
        s = ctx.attendance.start_session(args.name, args.group or "")
        print(f"started session '{s.name}' (id {s.id}) at {s.started_at}")
    elif action == "stop":
        s = ctx.attendance.stop_session(_session(ctx, args.name).id)
        print(f"stopped session '{s.name}' at {s.ended_at}")
    else:
        sessions = ctx.attendance.sessions()
        if not sessions:
            print("no sessions yet")
        for s in sessions:
            marks = len(ctx.attendance.marks(s.id))
            state = "open" if s.open else f"ended {s.ended_at}"
            print(f"{s.id:4d}  {s.name}  {s.group_name}  started {s.started_at}  {state}  {marks} marked")
    return 0


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    session = ctx.attendance.open_or_start(args.session, args.group or "")
    purged = ctx.attendance.purge_unknown(args.retention_days)
    if purged:
        print(f"deleted {purged} unknown-face record(s) older than {args.retention_days:g} days")
    settings = RecognitionSettings(vote=VotePolicy(args.k, args.n), margin=args.margin, threshold=args.threshold,
                                   record_unknown=args.record_unknown)
    source = FrameSource(args.source)
    recogniser = Recogniser(ctx.pipeline, ctx.gallery, ctx.attendance, session.id, settings, source.label)
    if len(recogniser.index) == 0:
        print("the gallery is empty: enrol people first", file=sys.stderr)
        return 1
    print(f"session '{session.name}': watching {source.label} with {len(recogniser.index)} people enrolled "
          f"(threshold {recogniser.threshold:.3f}, {args.k} of {args.n} frames); Ctrl+C stops")
    frames = 0
    started = time.monotonic()
    failures = 0
    try:
        source.open()
        while True:
            frame, t = source.read()
            if frame is None:
                if source.is_file:
                    break
                failures += 1  # a live source dropped: reconnect with back-off
                delay = min(30.0, 2.0 ** min(failures, 5))
                print(f"{source.label} stopped delivering frames; retrying in {delay:.0f} s", file=sys.stderr)
                source.close()
                time.sleep(delay)
                try:
                    source.open()
                except SourceError as exc:
                    print(str(exc), file=sys.stderr)
                continue
            failures = 0
            report = recogniser.process(frame, t)
            frames += 1
            for mark in report.new_marks:
                print(f"{t:8.2f}s  marked {mark.person_name}  score {mark.score:.3f}")
            if args.max_seconds and time.monotonic() - started > args.max_seconds:
                break
    except KeyboardInterrupt:
        print("stopped")
    finally:
        source.close()
    elapsed = time.monotonic() - started
    marked = ctx.attendance.marks(session.id)
    print(f"{frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.1f} fps); "
          f"{len(marked)} marked in '{session.name}': " + ", ".join(m.person_name for m in marked))
    return 0


def cmd_export(ctx: Context, args: argparse.Namespace) -> int:
    session_id = _session(ctx, args.session).id if args.session else None
    if session_id is None and not (args.start or args.end):
        print("choose --session NAME or a date range (--from/--to)", file=sys.stderr)
        return 2
    end = args.end
    if end and len(end) == 10:  # a date: include that whole day
        end = (datetime.date.fromisoformat(end) + datetime.timedelta(days=1)).isoformat()
    marks = ctx.attendance.marks(session_id, start=args.start, end=end)
    path = export_marks(marks, args.out, args.format)
    print(f"wrote {len(marks)} marks to {path}")
    return 0
