"""Faces found in dim, unevenly lit and tightly cropped copies of photos, without and with the pipeline's
second looks (core.vision.pipeline.FacePipeline.detect).

    python -m bench.dim_light --data ../shared/train/celeba76 [--limit 150] [--detector mtcnn|yunet:PATH] \\
        [--embedder dlib|PATH] [--json OUT.json]

Development data only (identity-disjoint training people; never ../shared/bench). Each photo's normal run
gives its largest face. The copies are made at run time: `dark` (gamma 2.5, light falling to 20 % across the
frame), `dark_harsh` (gamma 3.5, falling to 5 %, sensor noise), `tight` (cut inside the face box, 20 % smaller
than it, upscaled to 800 px: an ID-card scan) and `tight_small` (the same cut at 300 px). Per copy and
pipeline ("before": second looks off; "after": on): photos where a face was found, photos whose largest face
still matches the normal face at the model's default threshold (as a mark would need), and detection time.
The extra time on empty 640x480 frames (no face: well lit, flat, dark) is timed too.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from bench.common import write_json
from core.vision.imageio import read_image
from core.vision.pipeline import FacePipeline, build_pipeline

log = logging.getLogger("bench.dim_light")
VARIANTS = ("dark", "dark_harsh", "tight", "tight_small")


def darken(image: np.ndarray, gamma: float = 2.5, low: float = 0.2, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """A dim, unevenly lit copy: gamma, then light falling linearly from 100 % (left) to `low` (right),
    then Gaussian sensor noise of `noise` grey levels."""
    x = (image.astype(np.float32) / 255.0) ** gamma
    ramp = np.linspace(1.0, low, image.shape[1], dtype=np.float32)[None, :, None]
    out = x * ramp * 255.0
    if noise:
        out = out + np.random.default_rng(seed).normal(0.0, noise, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def tight_crop(image: np.ndarray, box: np.ndarray, margin: float = -0.2, side: int = 800) -> np.ndarray:
    """A square cut centred on the face box, (1 + margin) times its side, resized so its side is `side`."""
    x1, y1, x2, y2 = box
    half = max(x2 - x1, y2 - y1) * (1 + margin) / 2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    h, w = image.shape[:2]
    cut = image[int(max(0, cy - half)):int(min(h, cy + half)), int(max(0, cx - half)):int(min(w, cx + half))]
    f = side / max(cut.shape[:2])
    return cv2.resize(cut, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA)


def variant(name: str, image: np.ndarray, box: np.ndarray) -> np.ndarray:
    if name == "dark":
        return darken(image)
    if name == "dark_harsh":
        return darken(image, gamma=3.5, low=0.05, noise=3.0)
    if name == "tight":
        return tight_crop(image, box)
    if name == "tight_small":
        return tight_crop(image, box, side=300)
    raise ValueError(f"unknown variant {name}")


def largest(pipeline: FacePipeline, image: np.ndarray) -> tuple[object | None, float]:
    """The largest face (embedded) and the detection time in ms."""
    t0 = time.perf_counter()
    detections = pipeline.detect(image)
    ms = (time.perf_counter() - t0) * 1e3
    if not detections:
        return None, ms
    best = max(detections, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    faces, _ = pipeline.embed_detections(image, [best])
    return faces[0], ms


def photos(data: Path, limit: int) -> list[Path]:
    files = sorted(p for p in data.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    step = max(1, len(files) // limit) if limit else 1
    return files[::step][:limit] if limit else files


def empty_frame_cost(pipelines: dict[str, FacePipeline], repeats: int = 15) -> dict:
    """Median detection time (ms) of frames without a face: "lit" (well lit, contrasty: only the padded
    look is added), "flat" and "dark" (both dim: the brightened look too)."""
    rng = np.random.default_rng(0)
    lit = np.full((480, 640, 3), 80, np.uint8)
    lit[:, 320:] = 220
    lit = np.clip(lit + cv2.GaussianBlur(rng.normal(0, 20, lit.shape), (0, 0), 2), 0, 255).astype(np.uint8)
    frames = {"lit": lit, "flat": np.full((480, 640, 3), 127, np.uint8), "dark": np.full((480, 640, 3), 25, np.uint8)}
    out = {}
    for fname, frame in frames.items():
        for pname, pipeline in pipelines.items():
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                pipeline.detect(frame)
                times.append((time.perf_counter() - t0) * 1e3)
            out.setdefault(fname, {})[pname] = round(float(np.median(times)), 1)
        out[fname]["extra_ms"] = round(out[fname]["after"] - out[fname]["before"], 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=150, help="photos, spread over the folder (0: all)")
    ap.add_argument("--detector", default="mtcnn")
    ap.add_argument("--embedder", default="dlib")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not a.data.is_dir():
        log.error("%s is not a folder of photos (person folders): give the training data, e.g. "
                  "../shared/train/celeba76", a.data)
        return 2
    if "shared/bench" in str(a.data.resolve()):
        log.error("%s is evaluation data: this benchmark is for development data only", a.data)
        return 2
    after = build_pipeline(a.detector, a.embedder)
    before = FacePipeline(after.detector, after.embedder, max_detect_side=after.max_detect_side)
    before.second_look = False
    pipelines = {"before": before, "after": after}
    threshold = float(getattr(after.embedder.model, "default_threshold", 0.929))
    files = photos(a.data, a.limit)
    counts = {v: {p: {"found": 0, "matched": 0, "detect_ms": []} for p in pipelines} for v in VARIANTS}
    normal = 0
    for i, path in enumerate(files):
        image = read_image(path)
        ref, _ = largest(after, image)
        if ref is None:
            continue
        normal += 1
        for v in VARIANTS:
            copy = variant(v, image, ref.box)
            for pname, pipeline in pipelines.items():
                face, ms = largest(pipeline, copy)
                c = counts[v][pname]
                c["detect_ms"].append(ms)
                if face is not None:
                    c["found"] += 1
                    c["matched"] += float(face.embedding @ ref.embedding) >= threshold
        if (i + 1) % 25 == 0:
            log.info("%d / %d photos", i + 1, len(files))
    result = {"config": {"data": str(a.data), "photos": len(files), "detector": a.detector, "embedder": a.embedder,
                         "threshold": threshold, "variants": list(VARIANTS)},
              "normal_found": normal, "variants": {}}
    for v in VARIANTS:
        result["variants"][v] = {}
        for pname in pipelines:
            c = counts[v][pname]
            result["variants"][v][pname] = {
                "found": c["found"], "found_vs_normal": round(c["found"] / max(normal, 1), 4),
                "matched": int(c["matched"]), "matched_vs_normal": round(c["matched"] / max(normal, 1), 4),
                "detect_ms_median": round(float(np.median(c["detect_ms"])), 1) if c["detect_ms"] else None,
            }
            log.info("%-12s %-6s found %3d / %d, matched %3d", v, pname, c["found"], normal, c["matched"])
    result["empty_frames_ms"] = empty_frame_cost(pipelines)
    log.info("empty frames (median ms): %s", result["empty_frames_ms"])
    if a.json:
        write_json(a.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
