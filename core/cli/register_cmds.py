"""CLI commands for the register: class lists (roster), bulk enrolment from folders, groups, a session's
register, excuses and group reports. Thin adapters over the service's register operations."""

from __future__ import annotations

import argparse
import datetime as _dt
import getpass
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from core.cli.console import Progress, confirm
from core.cli.context import Context
from core.gallery.bulk import BulkReport, EnrolJob
from core.gallery.groups import Group
from core.gallery.records import NotFoundError
from core.register.roster import RosterPreview
from core.register.status import ABSENT, Register
from core.service import Rollcall


def add_register_parsers(sub: argparse._SubParsersAction) -> None:
    """The sub-commands of this module on the `rollcall` parser."""
    p = sub.add_parser("roster", help="preview or import a class list (CSV or XLSX) and enrol its photos")
    rsub = p.add_subparsers(dest="roster_action", metavar="ACTION", required=True)
    q = rsub.add_parser("preview", help="what importing the list would change; nothing is written")
    q.add_argument("file", type=Path)
    q = rsub.add_parser("import", help="preview, ask, then import the people and enrol their photos")
    q.add_argument("file", type=Path)
    q.add_argument("--yes", action="store_true", help="import without asking (needed when not at a terminal)")
    p.set_defaults(func=cmd_roster)

    p = sub.add_parser("enroll-folder", help="enrol one sub-folder of photos per person (named by External ID or name)")
    p.add_argument("folder", type=Path)
    p.add_argument("--group", help="everyone enrolled also joins this group (created when new)")
    p.set_defaults(func=cmd_enroll_folder)

    p = sub.add_parser("register", help="a session's register: each expected person's status, and guests")
    p.add_argument("--session", required=True)
    p.set_defaults(func=cmd_register)

    p = sub.add_parser("excuse", help="excuse an expected person from a session (--undo withdraws it)")
    p.add_argument("--session", required=True)
    p.add_argument("person", help="id, name or External ID")
    p.add_argument("--reason", required=True)
    p.add_argument("--operator", help="who excuses (default: your login name)")
    p.add_argument("--undo", action="store_true", help="withdraw the excuse")
    p.set_defaults(func=cmd_excuse)

    p = sub.add_parser("report", help="a group's people × sessions (P/L/A/E) with percentages, to CSV or XLSX")
    p.add_argument("--group", required=True)
    p.add_argument("--from", dest="start", help="sessions from this date (ISO, e.g. 2026-11-23)")
    p.add_argument("--to", dest="end", help="sessions up to this date (inclusive)")
    p.add_argument("--format", choices=["csv", "xlsx"])
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("group", help="list, create, rename or delete groups; add or remove members")
    gsub = p.add_subparsers(dest="group_action", metavar="ACTION")
    gsub.add_parser("list")
    q = gsub.add_parser("create")
    q.add_argument("name")
    q = gsub.add_parser("rename")
    q.add_argument("group")
    q.add_argument("new_name")
    q = gsub.add_parser("delete", help="delete a group (its members stay enrolled; past registers are kept)")
    q.add_argument("group")
    q.add_argument("--yes", action="store_true")
    for action in ("add", "remove"):
        q = gsub.add_parser(action)
        q.add_argument("group")
        q.add_argument("people", nargs="+", help="ids, names or External IDs")
    p.set_defaults(func=cmd_group)


def scheduled_time(text: str) -> str:
    """--start: HH:MM (today, local time) or an ISO date-time, as the ISO text the service takes."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match:
        return text
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        raise argparse.ArgumentTypeError(f"'{text}' is not a time of day like 09:00")
    today = _dt.datetime.now().astimezone()
    return today.replace(hour=hour, minute=minute, second=0, microsecond=0).isoformat(timespec="seconds")


def _operator(given: str | None) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment
        return ""


def _group(service: Rollcall, ref: str) -> Group:
    """A group by name, or by id when no group has that name."""
    found = service.groups.find(ref)
    if found is None and ref.strip().isdigit():
        return service.groups.get(int(ref))
    if found is None:
        raise NotFoundError(f"there is no group called '{ref}' (rollcall group list)")
    return found


# ---------------------------------------------------------------------- bulk enrolment


class _StopOnCtrlC:
    """Ctrl+C asks the bulk enrolment to stop after the current photo (everyone finished is kept)."""

    def __init__(self) -> None:
        self.stop = False
        self._old = None

    def __enter__(self) -> Callable[[], bool]:
        try:
            self._old = signal.signal(signal.SIGINT, self._on_signal)
        except ValueError:  # not the main thread: Ctrl+C keeps its default
            self._old = None
        return lambda: self.stop

    def _on_signal(self, signum, frame) -> None:  # noqa: ANN001
        self.stop = True
        print("\nstopping after this photo (Ctrl+C again to abort)", file=sys.stderr)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _progress_lines(stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic
                    ) -> Callable[[int, int, str], None]:
    """Progress on stderr. At a terminal: one line as each person's photos start, and one at the end. Into a
    log or pipe: a line at the start, at most one every 10 seconds (with the rate and the time left), and
    one at the end."""
    out = stream if stream is not None else sys.stderr
    bar = Progress("photos checked", stream=out, clock=clock)
    state = {"name": None}

    def progress(done: int, total: int, name: str) -> None:
        if not bar.tty:
            bar(done, total)
        elif done >= total and total:
            print(f"  {done}/{total} photos checked", file=out, flush=True)
        elif name and name != state["name"]:
            print(f"  {done}/{total} photos: {name}", file=out, flush=True)
        state["name"] = name

    return progress


def _enrol(service: Rollcall, jobs: list[EnrolJob], group: str | None) -> BulkReport:
    photos = sum(len(j.photos) for j in jobs)
    print(f"checking {photos} photo(s) of {len(jobs)} people; Ctrl+C stops after the current photo", file=sys.stderr)
    with _StopOnCtrlC() as cancelled:
        return service.enrol_jobs(jobs, group=group, progress=_progress_lines(), cancelled=cancelled)


def _print_bulk(report: BulkReport) -> int:
    print(report.summary())
    needing = report.needing_photos
    if needing:
        print(f"{len(needing)} need more photos:")
        for outcome in needing:
            print(f"  {outcome.describe()}")
    for outcome in report.outcomes:
        if outcome.error:
            print(f"  failed: {outcome.describe()}")
    return 1 if report.cancelled else 0


# ---------------------------------------------------------------------- class lists and folders


def print_preview(preview: RosterPreview) -> None:
    print(f"{preview.path}: {preview.summary()}")
    for row in preview.rows:
        who = row.name or "(no name)"
        for problem in row.problems:
            print(f"  line {row.line}: {who}: skipped: {problem}")
        for warning in row.warnings:
            print(f"  line {row.line}: {who}: warning: {warning}")


def cmd_roster(ctx: Context, args: argparse.Namespace) -> int:
    service = ctx.service
    preview = service.preview_roster(args.file)
    print_preview(preview)
    if args.roster_action == "preview":
        return 0
    if preview.count("skip") == len(preview.rows):
        print("no row can be imported; fix the problems above", file=sys.stderr)
        return 1
    if not args.yes:
        if not sys.stdin.isatty():
            print("error: not asking without a terminal; pass --yes to import the list", file=sys.stderr)
            return 2
        if not confirm("Import?"):
            print("nothing imported")
            return 1
    jobs = service.import_roster(preview)
    print(f"imported: {preview.count('new')} new, {preview.count('update')} updated, "
          f"{preview.count('unchanged')} unchanged, {preview.count('skip')} skipped")
    code = _print_bulk(_enrol(service, jobs, None)) if jobs else 0
    _print_without_photos(service, preview)
    return code


def _print_without_photos(service: Rollcall, preview: RosterPreview, shown: int = 20) -> None:
    """The imported people who still have no usable photo at all (the list gave none, or none passed)."""
    empty = {p.id for p in service.gallery.people() if p.n_samples == 0}
    names = [r.name for r in preview.rows if r.action != "skip" and r.person_id in empty]
    if names:
        more = f" and {len(names) - shown} more" if len(names) > shown else ""
        print(f"{len(names)} have no photos yet (rollcall enroll, or a Photos column): "
              + ", ".join(names[:shown]) + more)


def cmd_enroll_folder(ctx: Context, args: argparse.Namespace) -> int:
    service = ctx.service
    jobs = service.plan_enrol_folder(args.folder)
    known = sum(j.person_id is not None for j in jobs)
    print(f"{args.folder}: {len(jobs)} people ({len(jobs) - known} new, {known} enrolled already)")
    return _print_bulk(_enrol(service, jobs, args.group or None))


# ---------------------------------------------------------------------- registers, excuses, reports


def print_register(register: Register, *, lines: bool = True) -> None:
    s = register.session
    state = "open" if s.open else f"ended {s.ended_at}"
    group = f"group {s.group_name}" if s.group_name else "no group"
    print(f"session '{s.name}' ({group}), started {s.started_at}, {state}")
    print(register.summary())
    if not lines:
        absent = register.with_status(ABSENT)
        if absent:
            print("absent: " + ", ".join(line.name for line in absent))
        return
    for line in register.lines:
        extra = []
        if line.first_seen:
            extra.append(f"seen {line.first_seen[11:19]}")
        if line.confidence is not None:
            extra.append(f"confidence {line.confidence}")
        if line.manual:
            extra.append("by hand")
        if line.operator or line.reason:
            extra.append(f"{line.operator}: {line.reason}".strip(": "))
        ext = f"[{line.external_id}]" if line.external_id else ""
        print(f"  {line.status:8s} {line.name}  {ext}  {'; '.join(extra)}".rstrip())


def cmd_register(ctx: Context, args: argparse.Namespace) -> int:
    service = ctx.service
    print_register(service.register(service.find_session(args.session).id))
    return 0


def cmd_excuse(ctx: Context, args: argparse.Namespace) -> int:
    service = ctx.service
    session = service.find_session(args.session)
    person = service.find_person(args.person)
    operator = _operator(args.operator)
    if args.undo:
        service.unexcuse(session.id, person.id, operator=operator, reason=args.reason)
        print(f"{person.name} is no longer excused from '{session.name}'")
    else:
        service.excuse(session.id, person.id, operator=operator, reason=args.reason)
        print(f"{person.name} is excused from '{session.name}' ({args.reason})")
    return 0


def cmd_report(ctx: Context, args: argparse.Namespace) -> int:
    group = _group(ctx.service, args.group)
    report = ctx.service.group_report(group.id, args.start, args.end, path=args.out, fmt=args.format)
    print(f"wrote {len(report.people)} people × {len(report.sessions)} sessions of '{group.name}' to {args.out}")
    return 0


# ---------------------------------------------------------------------- groups


def cmd_group(ctx: Context, args: argparse.Namespace) -> int:
    service = ctx.service
    action = args.group_action or "list"
    if action == "list":
        groups = service.groups.all()
        if not groups:
            print("no groups yet (rollcall group create NAME, or import a class list)")
        for g in groups:
            print(f"{g.id:4d}  {g.name}  {g.n_members} member(s)")
        return 0
    if action == "create":
        group = service.create_group(args.name)
        print(f"created group '{group.name}' (id {group.id})")
        return 0
    group = _group(service, args.group)
    if action == "rename":
        renamed = service.rename_group(group.id, args.new_name)
        print(f"renamed group '{group.name}' to '{renamed.name}'")
    elif action == "delete":
        if not confirm(f"Delete the group '{group.name}' ({group.n_members} member(s) stay enrolled)?", args.yes):
            print("not deleted")
            return 1
        service.delete_group(group.id)
        print(f"deleted group '{group.name}'")
    else:
        people = [service.find_person(ref) for ref in args.people]
        ids = [p.id for p in people]
        if action == "add":
            n = service.add_to_group(group.id, ids)
            print(f"added {n} to '{group.name}' ({len(ids) - n} were members already)")
        else:
            n = service.remove_from_group(group.id, ids)
            print(f"removed {n} from '{group.name}' ({len(ids) - n} were not members)")
    return 0
