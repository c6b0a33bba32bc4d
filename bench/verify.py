"""Face-verification benchmark on a pairs file (e.g. ../shared/bench/celeba).

    python -m bench.verify --data ../shared/bench/celeba --detector mtcnn --embedder dlib --json out.json
    python -m bench.verify ... --reference dlib    # also run dlib's own pipeline on the same pairs

The data folder holds `images/` and `pairs.txt` (`image_a image_b 1|0`). Each
image is run through the pipeline once; its largest face represents it. A pair
with an image where no face was found gets the lowest possible score (it counts
as "different"), so missed faces cost accuracy instead of being skipped.
Prints a table and writes the figures as JSON. Evaluation only: never tune on it.
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import write_json
from core.vision.imageio import read_image
from core.vision.pipeline import build_pipeline
from core.benchmarks.verification import (
    check_images_exist, check_pair_counts, image_names, largest_face, limit_pairs, pair_metrics, read_pairs,
    score_pairs,
)

log = logging.getLogger("bench.verify")


def run_ours(args: argparse.Namespace, names: list[str]) -> tuple[dict, dict]:
    pipeline = build_pipeline(args.detector, args.embedder, device=args.device, min_face_size=args.min_face)
    embeddings: dict[str, np.ndarray | None] = {}
    per_image, detect_ms, align_ms, embed_ms = [], [], [], []
    faces_total = 0
    for i, name in enumerate(names):
        image = read_image(args.data / "images" / name)
        t0 = time.perf_counter()
        result = pipeline.process(image)
        per_image.append((time.perf_counter() - t0) * 1e3)
        detect_ms.append(result.timings_ms["detect"])
        if result.faces:
            n = len(result.faces)
            faces_total += n
            align_ms.append(result.timings_ms["align"] / n)
            embed_ms.append(result.timings_ms["embed"] / n)
            embeddings[name] = largest_face(result.faces).embedding
        else:
            embeddings[name] = None
        if (i + 1) % 200 == 0:
            log.info("ours: %d/%d images", i + 1, len(names))
    timing = {
        "ms_per_image": round(statistics.mean(per_image), 1),
        "stages_ms": {
            "detect": round(statistics.mean(detect_ms), 1),
            "align_per_face": round(statistics.mean(align_ms), 2) if align_ms else None,
            "embed_per_face": round(statistics.mean(embed_ms), 1) if embed_ms else None,
        },
        "faces_detected": faces_total,
    }
    return embeddings, timing


def run_dlib_reference(args: argparse.Namespace, names: list[str]) -> tuple[dict, dict]:
    """dlib's own recipe (as in the face_recognition library): HOG detector upsampled once,
    5-point shape predictor, ResNet descriptor on a 150 px chip with 0.25 padding."""
    try:
        import dlib  # test/benchmark-only dependency (dlib-bin)
    except ImportError:
        sys.exit("--reference dlib needs the dlib-bin package: pip install dlib-bin")
    from core.vision.models.dlib_resnet import bundled_weights_path

    models = bundled_weights_path().parent
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
    recogniser = dlib.face_recognition_model_v1(str(bundled_weights_path()))
    embeddings: dict[str, np.ndarray | None] = {}
    per_image = []
    for i, name in enumerate(names):
        rgb = np.ascontiguousarray(read_image(args.data / "images" / name)[:, :, ::-1])
        t0 = time.perf_counter()
        rects = detector(rgb, 1)
        if rects:
            rect = max(rects, key=lambda r: r.width() * r.height())
            shape = predictor(rgb, rect)
            embeddings[name] = np.array(recogniser.compute_face_descriptor(rgb, shape, 0, 0.25))
        else:
            embeddings[name] = None
        per_image.append((time.perf_counter() - t0) * 1e3)
        if (i + 1) % 200 == 0:
            log.info("dlib: %d/%d images", i + 1, len(names))
    return embeddings, {"ms_per_image": round(statistics.mean(per_image), 1)}


def summarise(embeddings: dict, timing: dict, pairs, labels, metric: str) -> dict:
    scores = score_pairs(embeddings, pairs, metric)
    missing = [n for n, e in embeddings.items() if e is None]
    return {
        **pair_metrics(scores, labels),
        "images": len(embeddings),
        "no_face": len(missing),
        "pairs_with_missing_face": int(sum(embeddings[a] is None or embeddings[b] is None for a, b in pairs)),
        **timing,
        "no_face_images": sorted(missing),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with images/ and pairs.txt")
    parser.add_argument("--detector", default="mtcnn", help="mtcnn | yunet:PATH")
    parser.add_argument("--embedder", default="dlib", help="dlib | PATH to a model file")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--min-face", type=int, default=20, help="smallest face to detect, pixels")
    parser.add_argument("--reference", choices=["dlib"], help="also run dlib's own pipeline on the same pairs")
    parser.add_argument("--limit", type=int, help="use only N pairs, half of each kind (smoke runs)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    pairs, labels = limit_pairs(*read_pairs(args.data), args.limit)  # --limit: half of each kind, file order
    check_pair_counts(labels, args.data / "pairs.txt")
    names = image_names(pairs)
    check_images_exist(args.data, names)
    log.info("%d pairs (%d same), %d images", len(pairs), int(labels.sum()), len(names))

    emb, timing = run_ours(args, names)
    result = {
        "config": {"detector": args.detector, "embedder": args.embedder, "device": args.device,
                   "min_face": args.min_face, "data": str(args.data)},
        "machine": {"platform": platform.platform(), "cpus": torch.get_num_threads(), "torch": torch.__version__},
        **summarise(emb, timing, pairs, labels, "cosine"),
    }
    rows = [("rollcall " + f"{args.detector} + {Path(args.embedder).name}", result)]
    if args.reference == "dlib":
        ref_emb, ref_timing = run_dlib_reference(args, names)
        result["reference_dlib"] = summarise(ref_emb, ref_timing, pairs, labels, "euclidean")
        rows.append(("dlib HOG + 5pt + ResNet", result["reference_dlib"]))

    print(f"{'pipeline':44s} {'acc':>7s} {'±std':>6s} {'TAR@1e-2':>9s} {'AUC':>7s} {'no face':>8s} {'ms/img':>7s}")
    for label, r in rows:
        print(f"{label:44s} {r['accuracy']:7.4f} {r['accuracy_std']:6.4f} {r['tar_at_far_1e-2']:9.4f} "
              f"{r['auc']:7.4f} {r['no_face']:4d}/{r['images']:<4d}{r['ms_per_image']:7.1f}")
    print(f"stages (ms): {result['stages_ms']}")
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
