"""`rollcall`: the engine, gallery and attendance from the command line.

    rollcall enroll NAME PHOTO...             enrol someone (or --camera 0 --captures 5)
    rollcall people [list|rename|edit|history|delete]   who is enrolled
    rollcall roster preview|import LIST.csv   a class list: people, groups and their photos
    rollcall enroll-folder DIR [--group G]    one sub-folder of photos per person
    rollcall group [list|create|rename|delete|add|remove]   groups and their members
    rollcall identify IMAGE|VIDEO|FOLDER      names and scores of the faces seen
    rollcall run --source VIDEO|CAMERA --session NAME    mark attendance, headless
    rollcall session [start|stop|list]        attendance sessions (of a group: its members are expected)
    rollcall register --session NAME          present, late, absent, excused, guests
    rollcall excuse --session NAME PERSON --reason R [--undo]
    rollcall export --session NAME --out FILE.csv|.xlsx   the register (or --from/--to)
    rollcall report --group G --out FILE.csv|.xlsx        people × sessions with percentages
    rollcall calibrate [--sessions 1000] [--apply | --use-policy]   the threshold policy, the gallery's curve
    rollcall model [list|activate PATH]       face models; activating re-embeds the gallery
    rollcall evaluate DATASET_ROOT --enroll-per-subject N
    rollcall faces PHOTO... / rollcall compare PHOTO_A PHOTO_B
    rollcall backup [--list] / rollcall restore BACKUP   back up the register, or put a backup back
"""

from __future__ import annotations

# Before anything loads torch: OpenMP reads its wait policy once, when torch loads it (core/threads.py).
from core import threads as _threads

_threads.prefer_passive_waiting()

import argparse
import logging
import sqlite3
import sys
from pathlib import Path

from core.cli.attendance_cmds import cmd_export, cmd_run, cmd_session
from core.cli.arguments import (fraction, non_negative_float, non_negative_int, positive_float, positive_int,
                                similarity)
from core.cli.context import Context
from core.cli.failures import EXIT_INTERRUPTED, describe_os_error, say, unexpected
from core.cli.engine_cmds import cmd_compare, cmd_evaluate, cmd_faces, cmd_identify
from core.cli.gallery_cmds import cmd_calibrate, cmd_enroll, cmd_model, cmd_people
from core.cli.register_cmds import add_register_parsers, scheduled_time
from core.cli.storage_cmds import cmd_backup, cmd_restore, db_path_of
from core.storage.db import default_db_path, explain_database_error
from core.gallery.faces import ENROL_JITTERS
from core.gallery.policy import SESSIONS_CHOICES
from core.errors import RollcallError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rollcall", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=None, help=f"database file (default {default_db_path()})")
    parser.add_argument("--detector", default="mtcnn", help="mtcnn (default) or yunet:PATH.onnx")
    parser.add_argument("--embedder", default=None,
                        help="face model: dlib (default) or a model file; with a gallery, its active model is used")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--min-face", type=int, default=20, help="smallest face to find, pixels (>= 12)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("enroll", help="enrol a person from photos or the camera")
    p.add_argument("name")
    p.add_argument("photos", nargs="*", type=Path)
    p.add_argument("--camera", type=int, help="capture from this camera index instead (SPACE captures)")
    p.add_argument("--captures", type=positive_int, default=5, help="usable captures wanted from the camera")
    p.add_argument("--face", type=positive_int, help="in photos with several faces, use face number N (left to right)")
    p.add_argument("--external-id")
    p.add_argument("--group")
    p.add_argument("--notes")
    p.add_argument("--yes", action="store_true", help="save even when the person looks like someone enrolled")
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("people", help="list, rename, edit or delete enrolled people; a person's history")
    psub = p.add_subparsers(dest="people_action", metavar="ACTION")
    q = psub.add_parser("list")
    q.add_argument("--search")
    q = psub.add_parser("rename")
    q.add_argument("person", help="id or name")
    q.add_argument("new_name")
    q = psub.add_parser("edit", help="change a person's name, External ID, groups or notes")
    q.add_argument("person", help="id, name or External ID")
    q.add_argument("--name")
    q.add_argument("--external-id", help="'' clears it")
    q.add_argument("--groups", help='every group they are to be in, e.g. "7B; Choir" (\'\' for none)')
    q.add_argument("--notes")
    q = psub.add_parser("history", help="every session that expected or marked the person")
    q.add_argument("person", help="id, name or External ID")
    q = psub.add_parser("delete")
    q.add_argument("person", help="id or name")
    q.add_argument("--erase-history", action="store_true", help="also delete their attendance marks")
    q.add_argument("--operator", default="")
    q.add_argument("--yes", action="store_true")
    p.set_defaults(func=cmd_people, search=None)

    p = sub.add_parser("identify", help="name the faces in an image, a folder of images or a video")
    p.add_argument("target", type=Path)
    p.add_argument("--threshold", type=similarity)
    p.add_argument("--margin", type=non_negative_float, help="top-1 minus top-2 needed (default: the threshold policy's)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_identify)

    p = sub.add_parser("run", help="watch a video or camera and mark attendance")
    p.add_argument("--source", required=True, help="video file, camera index or stream URL")
    p.add_argument("--session", required=True, help="session name (started if not open)")
    p.add_argument("--group")
    p.add_argument("--threshold", type=similarity)
    p.add_argument("--margin", type=non_negative_float, help="top-1 minus top-2 needed (default: the threshold policy's)")
    p.add_argument("-k", type=positive_int, default=3, help="agreeing recognitions needed (K of N)")
    p.add_argument("-n", type=positive_int, default=5, help="recent recognitions considered (K of N)")
    p.add_argument("--record-unknown", action="store_true", help="keep crops of unknown faces")
    p.add_argument("--retention-days", type=non_negative_float, default=30.0,
                   help="delete kept unknown faces older than this when a run starts (default 30)")
    p.add_argument("--max-seconds", type=positive_float, help="stop after this long")
    p.add_argument("--max-frames", type=positive_int, help="stop after recognising this many frames")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("session", help="start, stop or list attendance sessions")
    ssub = p.add_subparsers(dest="session_action", metavar="ACTION")
    q = ssub.add_parser("start")
    q.add_argument("name")
    q.add_argument("--group", help="its members are expected (absent until marked)")
    q.add_argument("--start", type=scheduled_time, help="scheduled start, HH:MM today or ISO (default: now)")
    q.add_argument("--late-after", type=int, metavar="MIN", help="marked more than MIN minutes after the start: late")
    q = ssub.add_parser("stop", help="end the session and print its register summary")
    q.add_argument("name")
    q = ssub.add_parser("list")
    q.add_argument("--group", help="only this group's sessions")
    p.set_defaults(func=cmd_session)

    p = sub.add_parser("export", help="write marks to CSV or XLSX")
    p.add_argument("--session")
    p.add_argument("--from", dest="start", help="from this date/time (ISO, e.g. 2026-11-23)")
    p.add_argument("--to", dest="end", help="up to this date (inclusive) or time (exclusive)")
    p.add_argument("--format", choices=["csv", "xlsx"])
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_export)

    add_register_parsers(sub)

    p = sub.add_parser("calibrate", help="the threshold policy's decision; FAR/FRR of the gallery's own samples")
    p.add_argument("--target-far", type=fraction, default=None,
                   help="false-accept rate per comparison for the suggestion (default: the policy's)")
    p.add_argument("--sessions", type=int, choices=SESSIONS_CHOICES,
                   help="a stranger may be marked in at most 1 of this many sessions (the policy's choice)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--apply", action="store_true",
                     help="set the suggested threshold by hand: it overrides the policy until --use-policy")
    how.add_argument("--use-policy", action="store_true", help="drop a threshold set by hand: the policy decides")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("model", help="list face models or activate one (re-embeds the gallery)")
    msub = p.add_subparsers(dest="model_action", metavar="ACTION")
    msub.add_parser("list")
    q = msub.add_parser("activate")
    q.add_argument("path", help="model file, or dlib for the default")
    p.set_defaults(func=cmd_model)

    p = sub.add_parser("evaluate", help="rank-1 identification on a folder of subject folders")
    p.add_argument("dataset_root", type=Path)
    p.add_argument("--enroll-per-subject", type=positive_int, default=3)
    p.add_argument("--jitters", type=non_negative_int, default=ENROL_JITTERS, help="moved copies averaged per enrolment photo")
    p.add_argument("--threshold", type=similarity)
    p.add_argument("--json", type=Path)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("faces", help="list the faces in photos")
    p.add_argument("photos", nargs="+", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_faces)

    p = sub.add_parser("compare", help="how similar the main faces of two photos are")
    p.add_argument("photo_a", type=Path)
    p.add_argument("photo_b", type=Path)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("backup", help="back up the database (into backups/ beside it), or list the backups")
    p.add_argument("--list", action="store_true", help="list the backups, newest first")
    p.add_argument("--folder", type=Path, help="another folder for the backup (e.g. a USB stick)")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="replace the register with a backup (the current one is backed up first)")
    p.add_argument("backup", type=Path, help="a backup file (see: rollcall backup --list)")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.set_defaults(func=cmd_restore)
    return parser


def _flush_each_line() -> None:
    """Piped into a file or another program, stdout is block-buffered: a long run would show nothing until it
    ends. Line buffering sends each line as it is printed."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except (AttributeError, ValueError, OSError):  # replaced by a test or wrapped: leave it
            pass


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure ends as `error: ...` on stderr (see core.cli.failures for exit codes)."""
    args = build_parser().parse_args(argv)
    _flush_each_line()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    _threads.apply_thread_policy("live" if args.command == "run" else "batch")
    ctx = Context(args)
    try:
        return args.func(ctx, args)
    except RollcallError as exc:
        return say(str(exc))
    except sqlite3.DatabaseError as exc:  # a damaged page found by a query, past the check on open
        return say(explain_database_error(exc, db_path_of(args)))
    except OSError as exc:  # a file the command reads or writes: missing, a folder, no permission, disk full
        return say(describe_os_error(exc))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last resort: a line here, the traceback in the log
        return unexpected(exc, argv)
    finally:
        try:
            ctx.close()
        except (sqlite3.Error, OSError):
            pass
