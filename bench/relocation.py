"""Relocation (MTCNN's ONet alone on a face's previous box) against full detection, on consecutive frames.

    python -m bench.relocation [--video ../shared/video/hamilton_clip.mp4] [--frames 150] [--json OUT]

For each frame after the first, the faces full detection found in the previous frame are relocated in this
one and compared with this frame's full detection: time (full detection of the frame, relocation per face),
how many of the faces still found by full detection relocation finds (IoU > 0.5), and the recognition score
each gives: the best cosine against the hamilton reference photos, embedded from the full detection's
landmarks and from the relocated ones.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.common import read_frames, write_json
from bench.soak import SHARED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=SHARED / "video" / "hamilton_clip.mp4")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from core.threads import apply_thread_policy, prefer_passive_waiting

    prefer_passive_waiting()
    threads = apply_thread_policy("live")
    from core.attendance.tracking import iou_matrix
    from core.vision.imageio import read_image
    from core.vision.pipeline import build_pipeline

    pipeline = build_pipeline()
    refs = np.stack([pipeline.process(read_image(p)).faces[0].embedding
                     for p in sorted((SHARED / "video" / "hamilton_refs").glob("*.png"))])
    frames = read_frames(args.video, args.frames)
    full_ms, reloc_ms_per_face, found, present, score_diff = [], [], 0, 0, []
    previous = None
    for frame in frames:
        t0 = time.perf_counter()
        current = pipeline.detect(frame, video_frame=True)
        full_ms.append((time.perf_counter() - t0) * 1e3)
        if previous:
            t0 = time.perf_counter()
            relocated = pipeline.relocate(frame, np.stack([d.box for d in previous]))
            reloc_ms_per_face.append((time.perf_counter() - t0) * 1e3 / len(previous))
            boxes = np.array([d.box for d in current]).reshape(-1, 4)
            for before, again in zip(previous, relocated):
                overlap = iou_matrix(before.box[None], boxes)[0] if len(boxes) else np.zeros(0)
                if not len(overlap) or overlap.max() < 0.3:
                    continue  # that face is not in this frame's full detection either
                present += 1
                match = current[int(overlap.argmax())]
                if again is None or iou_matrix(again.box[None], match.box[None])[0, 0] <= 0.5:
                    continue
                found += 1
                faces, _ = pipeline.embed_detections(frame, [match, again])
                score_diff.append(float((refs @ faces[1].embedding).max() - (refs @ faces[0].embedding).max()))
        previous = current
    diff = np.array(score_diff)
    result = {
        "video": str(args.video), "frames": len(frames), "threads": threads,
        "full_detection_ms_p50_p95": [float(np.percentile(full_ms, q)) for q in (50, 95)],
        "relocation_ms_per_face_p50_p95": [float(np.percentile(reloc_ms_per_face, q)) for q in (50, 95)],
        "relocated_of_present": [found, present],
        "score_difference_median_p10_p90": [float(np.percentile(diff, q)) for q in (50, 10, 90)],
    }
    print(f"{args.video.name}, {len(frames)} frames, {threads} thread(s)")
    print(f"  full detection ms p50/p95 {result['full_detection_ms_p50_p95'][0]:.1f} / "
          f"{result['full_detection_ms_p50_p95'][1]:.1f}; relocation ms per face p50/p95 "
          f"{result['relocation_ms_per_face_p50_p95'][0]:.1f} / {result['relocation_ms_per_face_p50_p95'][1]:.1f}")
    print(f"  relocated {found} of {present} faces full detection still finds in the next frame")
    print(f"  best-reference score, relocated minus full ({len(diff)} faces): median {np.median(diff):+.4f}, "
          f"10th-90th percentile {np.percentile(diff, 10):+.4f} to {np.percentile(diff, 90):+.4f}")
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
