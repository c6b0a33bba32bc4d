"""`rollcall`: the engine from the command line.

    rollcall faces PHOTO [PHOTO...]      faces found, their quality and embedding size
    rollcall compare PHOTO_A PHOTO_B     similarity of the largest face in each photo
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from core.errors import RollcallError
from core.imageio import read_image
from core.pipeline import FacePipeline, build_pipeline


def _pipeline(args: argparse.Namespace) -> FacePipeline:
    return build_pipeline(args.detector, args.embedder, device=args.device, min_face_size=args.min_face)


def cmd_faces(args: argparse.Namespace) -> int:
    pipeline = _pipeline(args)
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


def cmd_compare(args: argparse.Namespace) -> int:
    pipeline = _pipeline(args)
    embeddings = []
    for path in (args.photo_a, args.photo_b):
        faces = pipeline.process(read_image(path)).faces
        if not faces:
            print(f"no face found in {path}", file=sys.stderr)
            return 1
        largest = max(faces, key=lambda f: f.quality.face_size)
        embeddings.append(largest.embedding)
    similarity = float(np.dot(embeddings[0], embeddings[1]))
    print(f"cosine similarity {similarity:.4f} ({pipeline.embedder.name})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rollcall", description="Rollcall face engine")
    parser.add_argument("--detector", default="mtcnn", help="mtcnn (default) or yunet:PATH.onnx")
    parser.add_argument("--embedder", default="dlib", help="dlib (default) or a model file")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--min-face", type=int, default=20, help="smallest face to find, pixels (>= 12)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    faces = sub.add_parser("faces", help="list the faces in photos")
    faces.add_argument("photos", nargs="+", type=Path)
    faces.add_argument("--json", action="store_true", help="machine-readable output")
    faces.set_defaults(func=cmd_faces)
    compare = sub.add_parser("compare", help="how similar the main faces of two photos are")
    compare.add_argument("photo_a", type=Path)
    compare.add_argument("photo_b", type=Path)
    compare.set_defaults(func=cmd_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except RollcallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
