"""How far a detector's landmarks on a small face are from where the face really is.

The training degradation (`core.vision.degrade.Degradation.jitter_px`) shifts each of the five landmarks
of a low-res face by Gaussian noise, standing in for the detector's error on small faces. This script
measures that error on a dataset's training photos, so the noise can be set from data rather than
guessed (and never from a benchmark):

- each photo goes through the detector at full resolution; its largest face's landmarks are the
  reference;
- for each face width N the photo is shrunk so the face is N px wide (`core.vision.degrade.downscale_face`,
  as the low-res benchmark and the training degradation do) and the detector runs again
  (`lr_min_face`, with the pipeline's retry with a border);
- the detection nearest to the shrunk reference (within a quarter of the face width, the
  benchmark's rule) gives the error of each landmark in low-res pixels.

Prints, per size: how often the face was found, the root mean square error per coordinate (what
`jitter_px` models: the std of each coordinate's shift), the mean shift of the five points together
(an offset that moves the whole crop) and the spread of the points around it.

    python -m bench.landmark_error --manifest runs/ds_celeba76/manifest.json --side train \
        --detector yunet:../shared/models/face_detection_yunet_2023mar.onnx --json bench/results/landmark_error_yunet.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.common import write_json
from core.vision.degrade import downscale_face, face_width
from core.vision.detect import create_detector
from core.vision.imageio import read_image
from core.benchmarks.lowres import lowres_landmarks
from core.vision.pipeline import FacePipeline
from core.benchmarks.verification import largest_face
from trainer.manifest import load_manifest


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True, help="a dataset manifest (rollcall-train build-dataset)")
    parser.add_argument("--side", choices=("train", "val"), default="train")
    parser.add_argument("--detector", default="mtcnn", help="mtcnn | yunet:PATH")
    parser.add_argument("--sizes", default="12,16,24,32", help="face widths in pixels")
    parser.add_argument("--min-face", type=int, default=20, help="smallest face to detect at full resolution")
    parser.add_argument("--lr-min-face", type=int, default=12, help="smallest face to detect on the small images")
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos")
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def detection_only(detector: str, min_face: int) -> FacePipeline:
    """A pipeline used for `detect` only (the embedder is never called)."""
    return FacePipeline(create_detector(detector, min_face_size=min_face), embedder=None)  # type: ignore[arg-type]


def summarise(offsets: list[np.ndarray], tried: int) -> dict:
    """Statistics of (n, 5, 2) landmark errors in low-res pixels."""
    if not offsets:
        return {"photos": tried, "found": 0}
    err = np.stack(offsets)  # (n, 5, 2)
    shift = err.mean(axis=1)  # the whole face's offset
    residual = err - shift[:, None, :]
    return {
        "photos": tried, "found": len(offsets), "found_fraction": round(len(offsets) / tried, 4),
        "rms_per_coordinate": round(float(np.sqrt((err ** 2).mean())), 3),
        "median_point_distance": round(float(np.median(np.linalg.norm(err, axis=2))), 3),
        "mean_offset_xy": [round(float(v), 3) for v in shift.mean(axis=0)],
        "rms_shift_per_coordinate": round(float(np.sqrt((shift ** 2).mean())), 3),
        "rms_residual_per_coordinate": round(float(np.sqrt((residual ** 2).mean())), 3),
        "rms_per_landmark": [round(float(v), 3) for v in np.sqrt((err ** 2).mean(axis=(0, 2)))],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    manifest = load_manifest(args.manifest)
    if manifest.from_gallery:
        raise SystemExit(f"{args.manifest}: a gallery manifest; this script reads photos from a folder")
    entries = list(manifest.train if args.side == "train" else manifest.val)[: args.limit]
    hr_pipeline = detection_only(args.detector, args.min_face)
    lr_pipeline = detection_only(args.detector, args.lr_min_face)
    offsets: dict[int, list[np.ndarray]] = {s: [] for s in sizes}
    tried = {s: 0 for s in sizes}
    no_hr_face = 0
    started = time.perf_counter()
    for i, entry in enumerate(entries):
        image = read_image(Path(manifest.source) / entry.ref)
        face = largest_face(hr_pipeline.detect(image))  # what represents a photo, as in the benchmark
        if face is None:
            no_hr_face += 1
            continue
        lm_hr = face.landmarks
        for size in sizes:
            if face_width(lm_hr) <= size:
                continue  # already this small: nothing to measure
            small, expected = downscale_face(image, lm_hr, size)
            tried[size] += 1
            found = lowres_landmarks(lr_pipeline, small, expected, size)
            if found is not None:
                offsets[size].append(np.asarray(found, dtype=np.float64) - expected)
        if (i + 1) % 200 == 0:
            print(f"{i + 1}/{len(entries)} photos, {time.perf_counter() - started:.0f} s", flush=True)
    result = {
        "config": {"manifest": str(args.manifest), "side": args.side, "detector": args.detector,
                   "min_face": args.min_face, "lr_min_face": args.lr_min_face, "photos": len(entries),
                   "reference": "the same detector's landmarks at full resolution, scaled down",
                   "match": "nearest detection within 0.25 x face width (core.benchmarks.lowres)"},
        "no_hr_face": no_hr_face, "seconds": round(time.perf_counter() - started, 1),
        "sizes": {str(s): summarise(offsets[s], tried[s]) for s in sizes},
    }
    print(f"{args.detector}, {len(entries)} {args.side} photos of {args.manifest} ({no_hr_face} without a face)")
    print("face px | found | rms/coord | median dist | rms shift | rms residual | mean offset (x, y)")
    for s in sizes:
        r = result["sizes"][str(s)]
        if not r["found"]:
            print(f"{s:7d} | 0 / {r['photos']}")
            continue
        print(f"{s:7d} | {r['found']}/{r['photos']} | {r['rms_per_coordinate']:.3f} | {r['median_point_distance']:.3f}"
              f" | {r['rms_shift_per_coordinate']:.3f} | {r['rms_residual_per_coordinate']:.3f}"
              f" | {r['mean_offset_xy']}")
    if args.json is not None:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
