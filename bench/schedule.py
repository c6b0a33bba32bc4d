"""Detection on a schedule vs on every frame: faces found and time per frame, on the same frames.

    python -m bench.schedule --source VIDEO [--frames 150] [--every 3] [--json OUT]

Two recognisers over one gallery (the hamilton reference photos) run the live per-frame path
(`Recogniser.process`) on each frame in turn: one with full detection on every frame, one with
`detect_every` N (relocation in between). Printed: faces per frame of each, the ratio (target >= 0.95 on
street_multiface.mp4), per-frame ms p50/p95 of each, the people each marked, and the share of frames
that ran a full detection.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import write_json
from bench.soak import SHARED, enrol_refs


def read_frames(path: Path, count: int) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise SystemExit(f"no frames read from {path}")
    return frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SHARED / "video" / "hamilton_clip.mp4")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--every", type=int, default=3, help="full detection every N frames on the scheduled side")
    parser.add_argument("--fps", type=float, default=30.0, help="the frames' clock (seconds = index / fps)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)

    from core.threads import apply_thread_policy, prefer_passive_waiting

    prefer_passive_waiting()
    threads = apply_thread_policy("live")
    from core.attendance.recogniser import live_settings
    from core.service import Rollcall

    frames = read_frames(args.source, args.frames)
    refs = sorted((SHARED / "video" / "hamilton_refs").glob("*.png"))
    with tempfile.TemporaryDirectory(prefix="rollcall-schedule-") as folder:
        service = Rollcall.open(Path(folder))
        enrol_refs(service, refs)
        sides = {}
        for name, every in (("every_frame", 1), ("scheduled", args.every)):
            session = service.open_or_start(name)  # one session each: each side marks its own register
            run = service.open_run(str(args.source), session.id, dataclasses.replace(live_settings(), detect_every=every))
            sides[name] = {"recogniser": run.recogniser, "ms": [], "faces": [], "full": 0, "marked": set()}
        for side in sides.values():  # warm-up, outside the clock and the counts
            side["recogniser"].process(frames[0], -10.0)
            side["recogniser"].tracker.tracks.clear()
        for i, frame in enumerate(frames):
            order = list(sides.values()) if i % 2 == 0 else list(sides.values())[::-1]
            for side in order:
                t0 = time.perf_counter()
                report = side["recogniser"].process(frame, i / args.fps)
                side["ms"].append((time.perf_counter() - t0) * 1e3)
                side["faces"].append(len(report.faces))
                side["full"] += report.full_detection
                side["marked"].update(m.person_name for m in report.new_marks)
    result = {"source": str(args.source), "frames": len(frames), "detect_every": args.every, "threads": threads}
    for name, side in sides.items():
        ms = np.array(side["ms"])
        result[name] = {"faces_per_frame": float(np.mean(side["faces"])), "ms_p50": float(np.percentile(ms, 50)),
                        "ms_p95": float(np.percentile(ms, 95)), "full_detection_share": side["full"] / len(frames),
                        "marked": sorted(side["marked"])}
    every, sched = result["every_frame"], result["scheduled"]
    result["faces_ratio"] = sched["faces_per_frame"] / max(every["faces_per_frame"], 1e-9)
    result["speedup_p50"] = every["ms_p50"] / max(sched["ms_p50"], 1e-9)
    result["speedup_p95"] = every["ms_p95"] / max(sched["ms_p95"], 1e-9)
    print(f"{args.source.name}, {len(frames)} frames, {threads} thread(s)")
    for name in sides:
        r = result[name]
        print(f"  {name:12s} faces/frame {r['faces_per_frame']:.2f}  ms p50 {r['ms_p50']:.1f} p95 {r['ms_p95']:.1f}  "
              f"full detections {r['full_detection_share']:.0%}  marked {', '.join(r['marked']) or '-'}")
    print(f"  faces found: {result['faces_ratio']:.1%} of every-frame detection (target >= 95 %); "
          f"speed-up p50 {result['speedup_p50']:.2f}x, p95 {result['speedup_p95']:.2f}x")
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
