"""CLI commands that change the gallery: enroll, people, model, calibrate."""

from __future__ import annotations

import argparse
import sys

from core.cli.console import Progress, confirm, read_key
from core.cli.context import Context
from core.gallery.enrol import RECOMMENDED_SAMPLES, Enroller, SampleVerdict
from core.attendance.grabber import FrameGrabber, LatestFrame
from core.gallery.store import GalleryError
from core.attendance.sources import FrameSource
from core.service import CalibrationError


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
    person = ctx.service.enrol(args.name, verdicts, external_id=args.external_id, group_name=args.group or "",
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
            extra = " ".join(x for x in (f"[{p.external_id}]" if p.external_id else "", p.group_name) if x)
            print(f"{p.id:5d}  {p.name}  {extra}  ({p.n_samples} samples)")
        return 0
    person = service.find_person(args.person)
    if action == "rename":
        updated = service.update_person(person.id, name=args.new_name)
        print(f"renamed {person.name} to {updated.name}")
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


def cmd_calibrate(ctx: Context, args: argparse.Namespace) -> int:
    try:
        model, result = ctx.service.calibrate(args.target_far, apply=args.apply)
    except CalibrationError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"{result.genuine_pairs} genuine and {result.impostor_pairs} impostor sample pairs ({model.name})")
    print(f"{'threshold':>9s} {'FAR':>8s} {'FRR':>8s}")
    for t, far, frr in zip(result.curve_thresholds[::10], result.curve_far[::10], result.curve_frr[::10]):
        print(f"{t:9.3f} {far:8.4f} {frr:8.4f}")
    print(f"suggested threshold for FAR {args.target_far:g}: {result.threshold:.4f} "
          f"(FAR {result.far:.4f}, FRR {result.frr:.4f}; current {model.threshold:.4f})")
    if args.apply:
        print("applied")
    return 0
