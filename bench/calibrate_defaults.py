"""Default match thresholds per model, from identity-disjoint training photos.

    python -m bench.calibrate_defaults --data ../shared/train/celeba76 --embedders dlib PATH... [--json OUT]

Every photo's largest face is embedded; all same-person pairs are genuine, all
different-person pairs impostors. Prints the thresholds that accept 1 in 100, 1 in
1,000 and 1 in 10,000 impostor pairs, with the share of genuine pairs each would reject. The
models' `default_threshold` constants come from this run, never from the
benchmark set.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import write_json
from core.errors import BenchmarkDataError
from core.gallery.calibration import calibrate
from core.vision.imageio import IMAGE_SUFFIXES, read_image
from core.vision.pipeline import FacePipeline, build_pipeline


@dataclass
class EmbeddedPhotos:
    """Each photo's largest face: its subject, embedding, landmarks and the photo's index (photos without
    a face are left out)."""

    labels: np.ndarray  # (n,) subject folder names
    embeddings: np.ndarray  # (n, D)
    landmarks: np.ndarray  # (n, 5, 2)
    photo_index: np.ndarray  # (n,) index into the photos read


def read_subject_photos(data: Path) -> list[tuple[str, np.ndarray]]:
    """(subject, image) for every photo of DATA/<subject>/, sorted by path."""
    files = sorted(p for p in Path(data).glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES)
    return [(p.parent.name, read_image(p)) for p in files]


def embed_largest_faces(pipeline: FacePipeline, images: list[tuple[str, np.ndarray]]) -> EmbeddedPhotos:
    """The largest face of each photo through `pipeline` (shared with bench.impostor_table)."""
    labels, vectors, landmarks, index = [], [], [], []
    for i, (subject, image) in enumerate(images):
        faces = pipeline.process(image).faces
        if faces:
            face = max(faces, key=lambda f: f.quality.face_size)
            labels.append(subject)
            vectors.append(face.embedding)
            landmarks.append(face.landmarks)
            index.append(i)
    if not vectors:
        raise BenchmarkDataError("no face was found in any photo: check the data folder (DATA/<subject>/*.jpg)")
    return EmbeddedPhotos(np.array(labels), np.stack(vectors), np.stack(landmarks).reshape(-1, 5, 2),
                          np.array(index, dtype=np.int64))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder of subject folders")
    parser.add_argument("--detector", default="mtcnn")
    parser.add_argument("--embedders", nargs="+", default=["dlib"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    images = read_subject_photos(args.data)
    results = {}
    for spec in args.embedders:
        found = embed_largest_faces(build_pipeline(args.detector, spec), images)
        labels_arr, emb = found.labels, found.embeddings
        row = {"images": len(images), "embedded": len(labels_arr)}
        for far in (1e-2, 1e-3, 1e-4):
            cal = calibrate(labels_arr, emb, far)
            row[f"threshold_far_{far:g}"] = round(cal.threshold, 4)
            row[f"frr_at_far_{far:g}"] = round(cal.frr, 4)
            row["genuine_pairs"], row["impostor_pairs"] = cal.genuine_pairs, cal.impostor_pairs
        name = Path(spec).stem if spec != "dlib" else "dlib"
        results[name] = row
        print(f"{name:20s} {row}")
    if args.json:
        write_json(args.json, {"data": str(args.data), "detector": args.detector, "models": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
