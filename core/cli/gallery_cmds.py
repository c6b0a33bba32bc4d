"""CLI commands that change the gallery: enroll, people, model, calibrate."""

from __future__ import annotations

import argparse
import sys

from core.cli.console import Progress, confirm, read_key
from core.cli.context import Context
from core.gallery.enrol import RECOMMENDED_SAMPLES, Enroller, SampleVerdict
from core.attendance.grabber import FrameGrabber, LatestFrame
from core.gallery.policy import ThresholdDecision, site_pairs_needed
from core.gallery.groups import split_groups
from core.gallery.store import GalleryError, Person
from core.attendance.sources import FrameSource
from core.service import CalibrationError, Rollcall


def _print_verdicts(verdicts: list[SampleVerdict]) -> None:
    for v in verdicts:
        status = "ok" if v.ok else f"rejected: {v.reason}"
        print(f"  {v.source}: {status}")


def _capture_from_camera(enroller: Enroller, index: int, wanted: int) -> list[SampleVerdict]:
    """SPACE captures the newest camera frame (core.attendance.grabber' grabber keeps only that one), q stops.
    Each capture is checked at once."""
    slot = LatestFrame()
    grabber = FrameGrabber(FrameSource(index), slot,
                           on_event=lambda e: print(f"  {e.message}") if e.kind != "opened" else None).start()
    verdicts: list[SampleVerdict] = []
    print(f"Look at camera {index}. Press SPACE to capture ({wanted} wanted), q to finish.")
    try:
        while sum(v.ok for v in verdicts) < wanted:
            key = read_key()
            if key in ("q", "Q", "\x1b", ""):
                break
            if key != " ":
                continue
            frame = slot.take(timeout=1.0)
            if frame is None:
                print("  no frame from the camera" + (" (it could not be opened)" if slot.closed else " yet"))
                if slot.closed:
                    break
                continue
            verdict = enroller.check(frame.image, f"camera {index}")
            verdicts.append(verdict)
            good = sum(v.ok for v in verdicts)
            print(f"  capture {len(verdicts)}: " + (f"ok ({good}/{wanted})" if verdict.ok else f"rejected: {verdict.reason}"))
    finally:
        grabber.stop()
    return verdicts


def cmd_enroll(ctx: Context, args: argparse.Namespace) -> int:
    enroller = ctx.enroller()
    if args.camera is not None:
        verdicts = _capture_from_camera(enroller, args.camera, args.captures)
    else:
        if not args.photos:
            print("give photos of the person, or --camera INDEX", file=sys.stderr)
            return 2
        progress = Progress(f"checking {len(args.photos)} photos")
        verdicts = []
        for i, path in enumerate(args.photos):
            verdicts.append(enroller.check_file(path, args.face - 1 if args.face else None))
            progress(i + 1, len(args.photos))
        _print_verdicts(verdicts)
    good = sum(v.ok for v in verdicts)
    if good == 0:
        print(f"no usable face for {args.name}; nothing was saved", file=sys.stderr)
        return 1
    low, high = RECOMMENDED_SAMPLES
    if good < low:
        print(f"note: {good} usable sample(s); {low}-{high} give more reliable recognition")
    duplicates = enroller.possible_duplicates(verdicts)
    for d in duplicates:
        print(f"warning: looks like {d.person.name} (id {d.person.id}), similarity {d.score:.3f}")
    if duplicates and not confirm("Save as a new person anyway?", args.yes):
        print("not saved")
        return 1
    person = ctx.service.enrol(args.name, verdicts, external_id=args.external_id, groups=split_groups(args.group),
                               notes=args.notes or "")
    print(f"enrolled {person.name} (id {person.id}) with {person.n_samples} sample(s)")
    return 0


def cmd_people(ctx: Context, args: argparse.Namespace) -> int:
    service = ctx.service
    action = args.people_action or "list"
    if action == "list":
        people = service.gallery.people(args.search or "")
        if not people:
            print("nobody enrolled" + (f" matching '{args.search}'" if args.search else ""))
        for p in people:
            extra = " ".join(x for x in (f"[{p.external_id}]" if p.external_id else "", "; ".join(p.groups)) if x)
            print(f"{p.id:5d}  {p.name}  {extra}  ({p.n_samples} samples)")
        return 0
    person = service.find_person(args.person)
    if action == "rename":
        updated = service.update_person(person.id, name=args.new_name)
        print(f"renamed {person.name} to {updated.name}")
        return 0
    if action == "edit":
        return _edit_person(service, person, args)
    if action == "history":
        lines = service.person_history(person.id)
        if not lines:
            print(f"no session expected or marked {person.name} yet")
        for h in lines:
            group = f"group {h.session.group_name}" if h.session.group_name else "no group"
            seen = f"  seen {h.first_seen}" if h.first_seen else ""
            print(f"{h.session.started_at[:16].replace('T', ' ')}  {h.session.name}  ({group})  {h.status}{seen}")
        return 0
    if action == "delete":
        what = "and their attendance history " if args.erase_history else ""
        if not confirm(f"Delete {person.name} (id {person.id}) {what}for good?", args.yes):
            print("not deleted")
            return 1
        service.delete_person(person.id, erase_history=args.erase_history, operator=args.operator or "")
        print(f"deleted {person.name}")
        return 0
    raise GalleryError(f"unknown people action '{action}'")


def _edit_person(service: Rollcall, person: Person, args: argparse.Namespace) -> int:
    fields: dict[str, object] = {}
    if args.name is not None:
        fields["name"] = args.name
    if args.external_id is not None:
        fields["external_id"] = args.external_id
    if args.groups is not None:
        fields["groups"] = tuple(split_groups(args.groups))
    if args.notes is not None:
        fields["notes"] = args.notes
    if not fields:
        print("nothing to change: give --name, --external-id, --groups or --notes", file=sys.stderr)
        return 2
    if args.name is not None:
        same = service.people_named(args.name, exclude=person.id)
        if same:
            ids = ", ".join(str(p.id) for p in same)
            print(f"warning: {len(same)} other person(s) are called {args.name} (id {ids}); an External ID tells "
                  f"them apart", file=sys.stderr)
    updated = service.update_person(person.id, **fields)
    ext = f" [{updated.external_id}]" if updated.external_id else ""
    print(f"saved {updated.name}{ext}: groups {'; '.join(updated.groups) or '(none)'}")
    return 0


def cmd_model(ctx: Context, args: argparse.Namespace) -> int:
    gallery = ctx.service.gallery
    action = args.model_action or "list"
    if action == "list":
        active = gallery.active_model()
        for m in gallery.models():
            flag = "*" if active and m.id == active.id else " "
            print(f"{flag} {m.id:3d}  {m.name}  {m.arch}  dim {m.dim}  threshold {m.threshold:.3f} ({m.threshold_origin})  {m.source}")
        return 0
    if action == "activate":
        record = ctx.service.activate_model(args.path, progress=Progress("re-embedding samples"))
        print(f"active model: {record.name} (threshold {record.threshold:.3f})")
        return 0
    raise GalleryError(f"unknown model action '{action}'")


SOURCE_WORDS = {"table": "from the model's impostor table, measured on identity-disjoint photos",
                "site": "from this gallery's own photos", "manual": "set by hand (it overrides the policy)",
                "model default": "the model's default (it has no impostor table)"}


def _print_decision(decision: ThresholdDecision | None) -> None:
    if decision is None:
        return
    print(f"policy: a stranger is marked in at most 1 of {decision.sessions_per_false_mark:,} sessions, "
          f"with {decision.enrolled:,} enrolled (FAR {decision.per_comparison_far:.1e} per comparison)")
    print(f"threshold in force: {decision.threshold:.4f}, margin {decision.margin:.4f}, "
          f"{SOURCE_WORDS.get(decision.source, decision.source)}")
    print(f"  why: {decision.reason}")


def cmd_calibrate(ctx: Context, args: argparse.Namespace) -> int:
    """The policy's decision next to the site's own curve and suggestion; --sessions sets the operator's
    choice, --use-policy drops a threshold set by hand, --apply sets the suggestion by hand."""
    service = ctx.service
    if args.sessions is not None:
        service.set_sessions_per_false_mark(args.sessions)
        print(f"a stranger may now be marked in at most 1 of {args.sessions:,} sessions")
    if args.use_policy:
        was = service.threshold_decision()
        service.use_policy_threshold()
        print("the threshold set by hand is dropped: the policy decides again" if was and was.source == "manual"
              else "no threshold was set by hand: the policy already decides")
    decision = service.threshold_decision()
    _print_decision(decision)
    try:
        model, result = service.calibrate(args.target_far, apply=args.apply)
    except CalibrationError as exc:
        print(str(exc), file=sys.stderr)
        return 0 if (args.sessions is not None or args.use_policy) else 1
    print(f"this gallery: {result.genuine_pairs} genuine and {result.impostor_pairs} impostor sample pairs "
          f"({model.name})")
    print(f"{'threshold':>9s} {'FAR':>8s} {'FRR':>8s}")
    rows = list(zip(result.curve_thresholds[::10], result.curve_far[::10], result.curve_frr[::10]))
    moving = [i for i, (_, far, frr) in enumerate(rows) if far < 1.0 or frr > 0.0]
    for t, far, frr in rows[max(moving[0] - 1, 0) if moving else 0:]:  # from where false accepts start to fall
        print(f"{t:9.3f} {far:8.4f} {frr:8.4f}")
    print(f"suggested threshold for FAR {result.target_far:.1e} per comparison: {result.threshold:.4f} "
          f"(FAR {result.far:.4f}, FRR {result.frr:.4f} on this gallery)")
    if decision is not None:
        needed = site_pairs_needed(decision.per_comparison_far)
        enough = "enough" if result.impostor_pairs >= needed else "too few"
        print(f"this gallery's own pairs may lower the policy's threshold only with at least {needed:,} impostor "
              f"pairs ({result.impostor_pairs:,} now: {enough}); the policy weighs them itself")
    if args.apply:
        print(f"applied: {result.threshold:.4f} is now set by hand and overrides the policy "
              f"(rollcall calibrate --use-policy returns to it)")
        _print_decision(service.threshold_decision())
    return 0
