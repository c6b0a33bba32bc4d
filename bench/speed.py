"""Per-stage speed on this machine: detectors on 640x480 frames, embedders per face at batch 1.

    python -m bench.speed --frames ../shared/faces/bbt/group ../shared/video/hamilton_clip.mp4 \
        --yunet ../shared/models/face_detection_yunet_2023mar.onnx \
        --embedders dlib ../shared/models/edgeface_xxs_q.pt ../shared/models/edgeface_xs_q.pt --json out.json

Prints the median and 90th percentile over repeated runs after a warm-up.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from bench.common import write_json
from core.vision.detect import create_detector
from core.vision.imageio import IMAGE_SUFFIXES, read_image
from core.vision.models.loading import load_embedder
from core.vision.models.onnx_backend import with_backend


def load_frames(sources: list[Path], size: tuple[int, int], limit: int) -> list[np.ndarray]:
    frames = []
    for src in sources:
        if src.is_dir():
            files = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            frames += [read_image(p) for p in files]
        elif src.suffix.lower() in IMAGE_SUFFIXES:
            frames.append(read_image(src))
        else:
            cap = cv2.VideoCapture(str(src))
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 1
            for index in np.linspace(0, count - 1, 5).astype(int):
                cap.set(cv2.CAP_PROP_POS_FRAMES, int(index))
                ok, frame = cap.read()
                if ok:
                    frames.append(frame)
            cap.release()
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames[:limit]]


def timed(fn, repeats: int, warmup: int = 3) -> dict:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return {"median_ms": round(statistics.median(times), 2), "p90_ms": round(times[int(0.9 * (len(times) - 1))], 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=Path, nargs="+", required=True, help="folders, photos or videos")
    parser.add_argument("--size", default="640x480", help="frame size WxH")
    parser.add_argument("--min-face", type=int, default=20)
    parser.add_argument("--yunet", type=Path, help="also time YuNet from this ONNX file")
    parser.add_argument("--embedders", nargs="+", default=["dlib"])
    parser.add_argument("--backends", nargs="+", default=["torch"], choices=["torch", "onnx"],
                        help="embed with torch and/or ONNX Runtime (core.vision.models.onnx_backend)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    frames = load_frames(args.frames, (width, height), limit=12)
    results: dict = {"machine": {"platform": platform.platform(), "torch_threads": torch.get_num_threads()},
                     "frame_size": [width, height], "frames": len(frames), "detectors": {}, "embedders": {}}

    detector_specs = ["mtcnn"] + ([f"yunet:{args.yunet}"] if args.yunet else [])
    for spec in detector_specs:
        detector = create_detector(spec, min_face_size=args.min_face)
        per_frame = [timed(lambda f=f, d=detector: d.detect(f), args.repeats)["median_ms"] for f in frames]
        name = spec.split(":")[0]
        results["detectors"][name] = {
            "median_of_frame_medians_ms": round(statistics.median(per_frame), 1),
            "max_frame_median_ms": round(max(per_frame), 1),
            "per_frame_ms": per_frame,
        }
        print(f"{name:10s} detect {width}x{height}: median {statistics.median(per_frame):6.1f} ms "
              f"(frames {min(per_frame):.1f}-{max(per_frame):.1f})")

    for spec in args.embedders:
        loaded = load_embedder(spec)
        for backend in args.backends:
            started = time.perf_counter()
            embedder = with_backend(loaded, backend)  # ONNX: exported, or read from the cache, and checked
            ready_s = time.perf_counter() - started
            size = embedder.spec.size
            crop = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
            single = timed(lambda e=embedder, c=crop: e.embed(c), args.repeats * 2)
            batch8 = timed(lambda e=embedder, c=np.repeat(crop, 8, axis=0): e.embed(c), args.repeats)
            name = (Path(spec).stem if spec != "dlib" else "dlib") + ("" if backend == "torch" else f" ({backend})")
            results["embedders"][name] = {"batch1": single, "per_face_in_batch8_ms": round(batch8["median_ms"] / 8, 2),
                                          "ready_s": round(ready_s, 2)}
            print(f"{name:24s} embed: {single['median_ms']:6.2f} ms/face at batch 1 (p90 {single['p90_ms']:.2f}), "
                  f"{batch8['median_ms'] / 8:6.2f} ms/face in a batch of 8; ready in {ready_s:.2f} s")
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
