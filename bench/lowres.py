"""Low-resolution face verification: HR vs bicubic vs DSR on a pairs file (e.g. ../shared/bench/celeba).

    python -m bench.lowres --data ../shared/bench/celeba --size 12,16,24,32 --dsr PATH|none \\
        --embedder dlib|PATH --json OUT.json [--plot OUT.png] [--limit N]

Protocol. Every image goes through the normal pipeline at full resolution
(`hr`); its largest face represents it (as in bench/verify.py). For each size
N, image_b of every pair is degraded so that this face is N px wide
(`core.degrade.downscale_face`: area interpolation of the whole photo;
deterministic, so every method sees the same pixels); image_a stays at full
resolution. Face width = the pixels spanned by the 112 px ArcFace template crop
(about 3.2 eye distances).

Landmarks on the degraded image: the detector runs on it (MTCNN searches down
to `--lr-min-face`, 12 px by default; the pipeline retries small photos with a
border). The detection nearest to the HR face (mean landmark distance below a
quarter of the face width) is used. Where none is found, which is common at
12 px where the face is below what the detectors are trained for, the HR
landmarks scaled down are used instead; the JSON counts both per size
(`landmarks_detected`, `landmarks_from_hr`).

Methods per size, from the same landmarks:
- `bicubic`: the face aligned at 28 px (ArcFace template scaled down), bicubic
  x4 to 112, warped onto the embedder's template (the pipeline's SR route with
  no DSR model);
- `dsr`: the same with the DSR model (null when --dsr none);
- `direct`: the embedder's own alignment straight from the small image (what the
  pipeline does with SR off), for reference.
A pair whose HR image had no face gets the lowest score, as in bench/verify.py.
Reports 10-fold accuracy and TAR@FAR=1e-2 (plus AUC) per method and size, writes
JSON and a PNG plot. Evaluation only: never tune anything on it.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from bench.verify import pair_metrics, read_pairs, score_pairs
from core.align import align_face
from core.degrade import downscale_face, face_width
from core.detect import create_detector
from core.imageio import read_image
from core.models.loading import load_resolver
from core.models.superres import BicubicResolver
from core.pipeline import FacePipeline, build_pipeline

log = logging.getLogger("bench.lowres")
METHODS = ("bicubic", "dsr", "direct")
MATCH_FRACTION = 0.25  # a detection matches the HR face when its landmarks are this close (x face width)


def _largest(faces: list) -> object:
    return max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))


def hr_pass(pipeline: FacePipeline, data: Path, names: list[str]) -> tuple[dict, dict]:
    """Embedding and landmarks of each image's largest face at full resolution (None if no face)."""
    embeddings: dict[str, np.ndarray | None] = {}
    landmarks: dict[str, np.ndarray | None] = {}
    for i, name in enumerate(names):
        faces = pipeline.process(read_image(data / "images" / name)).faces
        face = _largest(faces) if faces else None
        embeddings[name] = face.embedding if face is not None else None
        landmarks[name] = face.landmarks if face is not None else None
        if (i + 1) % 200 == 0:
            log.info("hr: %d/%d images", i + 1, len(names))
    return embeddings, landmarks


def lowres_landmarks(lr_pipeline: FacePipeline, small: np.ndarray, expected: np.ndarray, size: int) -> np.ndarray | None:
    """Landmarks of the detection on the degraded image nearest to where the HR face went, if close enough."""
    best, best_dist = None, MATCH_FRACTION * size
    for det in lr_pipeline.detect(small):
        dist = float(np.linalg.norm(det.landmarks - expected, axis=1).mean())
        if dist < best_dist:
            best, best_dist = det.landmarks, dist
    return best


def degraded_pass(args: argparse.Namespace, lr_pipeline: FacePipeline, resolvers: dict, names: list[str],
                  hr_landmarks: dict, size: int) -> tuple[dict, dict]:
    """Embeddings of each degraded image by every method, and how its landmarks were found."""
    embedder = lr_pipeline.embedder
    spec = embedder.spec
    out: dict[str, dict] = {m: {} for m in METHODS}
    counts = {"landmarks_detected": 0, "landmarks_from_hr": 0, "no_hr_face": 0, "not_downscaled": 0}
    t_start = time.perf_counter()
    for i, name in enumerate(names):
        lm_hr = hr_landmarks.get(name)
        if lm_hr is None:
            counts["no_hr_face"] += 1
            for m in METHODS:
                out[m][name] = None
            continue
        image = read_image(args.data / "images" / name)
        if face_width(lm_hr) <= size:
            counts["not_downscaled"] += 1
        small, expected = downscale_face(image, lm_hr, size)
        lm = lowres_landmarks(lr_pipeline, small, expected, size)
        if lm is None:
            counts["landmarks_from_hr"] += 1
            lm = expected
        else:
            counts["landmarks_detected"] += 1
        crops, methods = [], []
        for m in METHODS:
            if m == "direct":
                crops.append(align_face(small, lm, spec.template, spec.size))
            elif resolvers.get(m) is not None:
                lr_pipeline.resolver = resolvers[m]
                crops.append(lr_pipeline.upscale_faces(small, [lm])[0])
            else:
                out[m][name] = None
                continue
            methods.append(m)
        for m, vec in zip(methods, embedder.embed(np.stack(crops))):
            out[m][name] = vec
        if (i + 1) % 200 == 0:
            log.info("%d px: %d/%d images", size, i + 1, len(names))
    counts["seconds"] = round(time.perf_counter() - t_start, 1)
    return out, counts


def mixed_scores(hr: dict, degraded: dict, pairs: list[tuple[str, str]]) -> np.ndarray:
    """Scores of (image_a at full resolution, image_b degraded)."""
    combined = {}
    renamed = []
    for a, b in pairs:
        combined["hr:" + a] = hr[a]
        combined["lr:" + b] = degraded[b]
        renamed.append(("hr:" + a, "lr:" + b))
    return score_pairs(combined, renamed, "cosine")


def draw_plot(result: dict, sizes: list[int], path: Path) -> None:
    """Accuracy against face width, one line per method, drawn with OpenCV."""
    w, h, left, right, top, bottom = 720, 480, 80, 170, 50, 60
    img = np.full((h, w, 3), 255, np.uint8)
    accs = [result["sizes"][str(s)][m]["accuracy"] for s in sizes for m in ("hr", *METHODS)
            if result["sizes"][str(s)].get(m)]
    lo = max(0.0, np.floor(min(accs) * 20) / 20 - 0.05)
    hi = 1.0

    def xy(size: float, acc: float) -> tuple[int, int]:
        x = left + (size - min(sizes)) / max(1, max(sizes) - min(sizes)) * (w - left - right)
        y = top + (hi - acc) / (hi - lo) * (h - top - bottom)
        return int(round(x)), int(round(y))

    cv2.rectangle(img, (left, top), (w - right, h - bottom), (0, 0, 0), 1)
    for k in range(int(round((hi - lo) / 0.05)) + 1):
        acc = lo + 0.05 * k
        _, y = xy(min(sizes), acc)
        cv2.line(img, (left, y), (w - right, y), (220, 220, 220), 1)
        cv2.putText(img, f"{acc:.2f}", (left - 50, y + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for s in sizes:
        x, _ = xy(s, lo)
        cv2.putText(img, str(s), (x - 8, h - bottom + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "face width (px)", (w // 2 - 90, h - 15), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, f"10-fold accuracy, {result['config']['embedder_name']}", (left, 30),
                cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    colours = {"hr": (0, 0, 0), "bicubic": (200, 80, 0), "dsr": (0, 0, 220), "direct": (0, 150, 0)}
    legend_y = top + 10
    for m in ("hr", *METHODS):
        points = [xy(s, result["sizes"][str(s)][m]["accuracy"]) for s in sizes if result["sizes"][str(s)].get(m)]
        if not points:
            continue
        for p, q in zip(points, points[1:]):
            cv2.line(img, p, q, colours[m], 2, cv2.LINE_AA)
        for p in points:
            cv2.circle(img, p, 4, colours[m], -1, cv2.LINE_AA)
        cv2.line(img, (w - right + 15, legend_y), (w - right + 45, legend_y), colours[m], 2, cv2.LINE_AA)
        cv2.putText(img, m, (w - right + 52, legend_y + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        legend_y += 24
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with images/ and pairs.txt")
    parser.add_argument("--size", default="12,16,24,32", help="face widths in px, comma-separated")
    parser.add_argument("--dsr", default="none", help="none | PATH to a DSR checkpoint")
    parser.add_argument("--embedder", default="dlib", help="dlib | PATH to a model file")
    parser.add_argument("--detector", default="mtcnn", help="mtcnn | yunet:PATH")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--min-face", type=int, default=20, help="smallest face to detect at full resolution")
    parser.add_argument("--lr-min-face", type=int, default=12, help="smallest face to detect on degraded images")
    parser.add_argument("--limit", type=int, help="use only N pairs, half of each kind (smoke runs)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--plot", type=Path, help="PNG plot (default: the --json path with .png)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    sizes = sorted({int(s) for s in args.size.split(",") if s.strip()})

    pairs, labels = read_pairs(args.data)
    if args.limit:  # half genuine, half impostor pairs, in file order (as bench/verify.py)
        keep = np.sort(np.concatenate([np.flatnonzero(labels)[: args.limit // 2],
                                       np.flatnonzero(~labels)[: args.limit - args.limit // 2]]))
        pairs, labels = [pairs[i] for i in keep], labels[keep]
    names = sorted({n for p in pairs for n in p})
    b_names = sorted({b for _, b in pairs})
    log.info("%d pairs (%d same), %d images, %d degraded per size", len(pairs), int(labels.sum()), len(names), len(b_names))

    pipeline = build_pipeline(args.detector, args.embedder, device=args.device, min_face_size=args.min_face)
    lr_detector = create_detector(args.detector, min_face_size=args.lr_min_face, device=args.device)
    lr_pipeline = FacePipeline(lr_detector, pipeline.embedder)
    resolvers = {"bicubic": BicubicResolver(),
                 "dsr": None if args.dsr.lower() == "none" else load_resolver(args.dsr, device=pipeline.embedder.device)}

    t0 = time.perf_counter()
    hr_emb, hr_lm = hr_pass(pipeline, args.data, names)
    hr_metrics = pair_metrics(score_pairs(hr_emb, pairs, "cosine"), labels)
    hr_seconds = round(time.perf_counter() - t0, 1)
    result: dict = {
        "config": {"data": str(args.data), "detector": args.detector, "embedder": args.embedder,
                   "embedder_name": pipeline.embedder.name, "dsr": args.dsr, "min_face": args.min_face,
                   "lr_min_face": args.lr_min_face, "pairs": len(pairs), "limit": args.limit,
                   "degradation": "area downscale of image_b so its face is N px wide; image_a full resolution",
                   "landmarks": "detected on the degraded image (nearest to the HR face, within "
                                f"{MATCH_FRACTION} x face width); else the HR landmarks scaled down",
                   "face_width": "pixels spanned by the 112 px ArcFace template crop (~3.2 eye distances)"},
        "machine": {"platform": platform.platform(), "cpus": torch.get_num_threads(), "torch": torch.__version__},
        "hr_no_face": sum(e is None for e in hr_emb.values()),
        "hr_seconds": hr_seconds,
        "sizes": {},
    }
    for size in sizes:
        degraded, counts = degraded_pass(args, lr_pipeline, resolvers, b_names, hr_lm, size)
        entry: dict = {"hr": hr_metrics, **counts}
        for m in METHODS:
            entry[m] = None if resolvers.get(m, True) is None else pair_metrics(mixed_scores(hr_emb, degraded[m], pairs), labels)
        result["sizes"][str(size)] = entry
        log.info("%d px done in %.0f s", size, counts["seconds"])

    print(f"{'size':>5s} {'method':8s} {'acc':>7s} {'TAR@1e-2':>9s}   landmarks detected / from HR")
    for size in sizes:
        entry = result["sizes"][str(size)]
        for m in ("hr", *METHODS):
            if entry.get(m):
                extra = f"   {entry['landmarks_detected']} / {entry['landmarks_from_hr']}" if m == "bicubic" else ""
                print(f"{size:5d} {m:8s} {entry[m]['accuracy']:7.4f} {entry[m]['tar_at_far_1e-2']:9.4f}{extra}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    plot = args.plot or (args.json.with_suffix(".png") if args.json else None)
    if plot:
        draw_plot(result, sizes, plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
