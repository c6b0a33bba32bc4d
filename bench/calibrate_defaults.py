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
from pathlib import Path

import numpy as np

from bench.common import write_json
from core.gallery.calibration import calibrate
from core.vision.imageio import IMAGE_SUFFIXES, read_image
from core.vision.pipeline import build_pipeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder of subject folders")
    parser.add_argument("--detector", default="mtcnn")
    parser.add_argument("--embedders", nargs="+", default=["dlib"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    files = sorted(p for p in args.data.glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES)
    images = [(p.parent.name, read_image(p)) for p in files]
    results = {}
    for spec in args.embedders:
        pipeline = build_pipeline(args.detector, spec)
        labels, vectors = [], []
        for subject, image in images:
            faces = pipeline.process(image).faces
            if faces:
                labels.append(subject)
                vectors.append(max(faces, key=lambda f: f.quality.face_size).embedding)
        labels_arr, emb = np.array(labels), np.stack(vectors)
        row = {"images": len(images), "embedded": len(labels)}
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
