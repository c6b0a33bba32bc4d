"""CLI commands about faces and models that need no attendance: faces, compare, identify, evaluate."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from core.cli.console import Progress
from core.cli.context import Context
from core.benchmarks.identification import evaluate_folder, usable_subjects
from core.errors import ImageReadError, InputPathError, path_text
from core.vision.imageio import IMAGE_SUFFIXES, read_image, return_freed_memory
from core.attendance.sources import FrameSource
from core.gallery.matching import TemplateIndex
from core.gallery.policy import confidence


def cmd_faces(ctx: Context, args: argparse.Namespace) -> int:
    pipeline = ctx.standalone_pipeline()
    report = []
    for path in args.photos:
        result = pipeline.process(read_image(path))
        faces = [
            {
                "box": [round(float(v), 1) for v in f.box],
                "score": round(f.score, 3),
                "face_size_px": round(f.quality.face_size, 1),
                "sharpness": round(f.quality.sharpness, 1),
                "yaw": round(f.quality.yaw, 2),
                "embedding_dim": int(f.embedding.shape[0]),
            }
            for f in result.faces
        ]
        report.append({"image": str(path), "size": list(result.image_size), "faces": faces,
                       "ms": {k: round(v, 1) for k, v in result.timings_ms.items()}})
        if not args.json:
            print(f"{path}: {len(faces)} face(s) in {result.image_size[0]}x{result.image_size[1]}")
            for i, f in enumerate(faces, 1):
                print(f"  {i}. box {f['box']} score {f['score']} size {f['face_size_px']} px "
                      f"sharpness {f['sharpness']} yaw {f['yaw']}")
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


def cmd_compare(ctx: Context, args: argparse.Namespace) -> int:
    pipeline = ctx.standalone_pipeline()
    embeddings = []
    for path in (args.photo_a, args.photo_b):
        faces = pipeline.process(read_image(path)).faces
        if not faces:
            print(f"no face found in {path}", file=sys.stderr)
            return 1
        embeddings.append(max(faces, key=lambda f: f.quality.face_size).embedding)
    print(f"cosine similarity {float(np.dot(embeddings[0], embeddings[1])):.4f} ({pipeline.embedder.name})")
    return 0


def _folder_images(folder: Path) -> list[Path]:
    """The images of a folder (by name); a folder without any is an InputPathError."""
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())
    if not images:
        raise InputPathError(folder, "this folder has no images",
                             f"Give a folder of photos ({', '.join(sorted(IMAGE_SUFFIXES))}), an image or a video.")
    return images


def _check_target(target: Path) -> bool:
    """Refuse a missing target or a folder without images (before any model loads); whether it is a folder."""
    if not target.exists():
        raise InputPathError(target, "no such file or folder", "Give an image, a folder of images or a video.")
    if target.is_dir():
        _folder_images(target)
        return True
    return False


def _identify_frames(target: Path, unread: list[str], progress: Progress | None = None):
    """(label, BGR frame) for an image, every image of a folder, or every Nth frame of a video. A folder's
    files that cannot be read are skipped and listed in `unread` ("file: why")."""
    if _check_target(target):
        images = _folder_images(target)
        for done, path in enumerate(images):
            if progress is not None:
                progress(done, len(images))
            try:
                frame = read_image(path)
            except ImageReadError as exc:
                unread.append(f"{path_text(path)}: {exc.problem}")
                continue
            yield path_text(path), frame
            del frame
            return_freed_memory()  # a folder of thousands of photos: the memory stays flat
        if progress is not None:
            progress(len(images), len(images))
    elif target.suffix.lower() in IMAGE_SUFFIXES:
        yield path_text(target), read_image(target)
    else:
        with FrameSource(str(target)) as source:
            step = max(1, int(round(source.fps / 2))) if source.fps > 0 else 1  # two frames a second
            index = 0
            while True:
                frame, t = source.read()
                if frame is None:
                    break
                if index % step == 0:
                    yield f"{target.name} @ {t:6.2f}s", frame
                index += 1


def _face_words(face: dict) -> str:
    """"Ada (confidence 78)"; an unknown at or above the bar was refused as too close to another person."""
    tie = "; too close to call" if face["name"] == "unknown" and face["confidence"] >= 50 else ""
    return f"{face['name']} (confidence {face['confidence']}{tie})"


def cmd_identify(ctx: Context, args: argparse.Namespace) -> int:
    _check_target(args.target)
    pipeline = ctx.pipeline
    gallery = ctx.service.gallery
    model = gallery.active_model()
    index = TemplateIndex(*gallery.templates(model.id))
    decision = ctx.service.threshold_decision()
    threshold = args.threshold if args.threshold is not None else decision.threshold
    margin = args.margin if args.margin is not None else decision.margin
    bar = dataclasses.replace(decision, threshold=threshold)  # the confidence's 50 is the threshold used
    if len(index) == 0:
        print("the gallery is empty: enrol people first (rollcall enroll NAME PHOTO...)", file=sys.stderr)
        return 1
    results, unread = [], []
    progress = Progress("identifying") if args.json else None  # without --json each result is a line
    for label, frame in _identify_frames(args.target, unread, progress):
        faces = pipeline.process(frame).faces
        matches = index.identify(np.stack([f.embedding for f in faces]) if faces else np.zeros((0, index.dim)),
                                 threshold, margin)
        entry = {"source": label, "faces": []}
        for face, match in zip(faces, matches):
            name = match.name if match.known else "unknown"
            closest = index.name_of(match.best_person_id) if match.best_person_id is not None else None
            entry["faces"].append({"name": name, "confidence": confidence(match.score, bar),
                                   "score": round(match.score, 4), "closest": closest,
                                   "box": [round(float(v)) for v in face.box]})
        results.append(entry)
        if not args.json:
            names = ", ".join(_face_words(f) for f in entry["faces"]) or "no face"
            print(f"{label}: {names}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    if unread:
        print(f"{len(unread)} file(s) could not be read:", *unread, sep="\n  ", file=sys.stderr)
        return 1
    return 0


def cmd_evaluate(ctx: Context, args: argparse.Namespace) -> int:
    if args.json is not None and args.json.is_dir():
        raise InputPathError(args.json, "this is a folder", "Give --json a file name, e.g. results.json.")
    usable_subjects(args.dataset_root, args.enroll_per_subject)  # a wrong folder is refused before the models load
    pipeline = ctx.standalone_pipeline()
    result = evaluate_folder(args.dataset_root, pipeline, args.enroll_per_subject, args.threshold,
                             progress=Progress("evaluating"), jitters=args.jitters)
    print(f"{result['subjects']} subjects, {result['probes']} probes, {result['enroll_per_subject']} enrolled each")
    print(f"rank-1 {result['rank1']:.4f}; at threshold {result['threshold']:.3f}: open-set accuracy "
          f"{result['open_set_accuracy']:.4f}, unknown {result['unknown_rate']:.4f}, "
          f"false accepts {result['false_accept_rate']:.4f}")
    if result["probes_unreadable"]:
        print(f"{result['probes_unreadable']} probe image(s) could not be read (counted as not identified)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0
