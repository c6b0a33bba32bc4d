"""Detection on a schedule, or on its own thread, vs on every frame: faces found and time per frame.

    python -m bench.schedule --source VIDEO [--frames 150] [--every 3] [--json OUT]

Recognisers over one gallery (the hamilton reference photos) run the live per-frame path
(`Recogniser.process`): full detection on every frame and `detect_every` N (relocation in between) take
turns on each frame; then the live view's way (detection on its own thread) plays the frames at the
video's pace, processing the newest. Printed for each: faces per frame and their share of what full
detection finds on the same frames (target >= 95 % on street_multiface.mp4), per-frame ms p50/p95, the
people marked, the share of frames with a full detection, and the live way's processed fps.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.common import read_frames, write_json
from bench.soak import SHARED, enrol_refs


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

        def side(name: str, settings) -> dict:  # noqa: ANN001
            session = service.open_or_start(name)  # one session each: each side marks its own register
            recogniser = service.open_run(str(args.source), session.id, settings).recogniser
            recogniser.process(frames[0], -10.0)  # warm-up, outside the clock and the counts
            recogniser.tracker.tracks.clear()
            return {"recogniser": recogniser, "ms": [], "faces": {}, "full": 0, "marked": set()}

        def step(side: dict, i: int) -> None:
            t0 = time.perf_counter()
            report = side["recogniser"].process(frames[i], i / args.fps)
            side["ms"].append((time.perf_counter() - t0) * 1e3)
            side["faces"][i] = len(report.faces)
            side["full"] += report.full_detection
            side["marked"].update(m.person_name for m in report.new_marks)

        sides = {"every_frame": side("every_frame", replace(live_settings(reproducible=True), detect_every=1)),
                 "scheduled": side("scheduled", replace(live_settings(reproducible=True), detect_every=args.every))}
        for i in range(len(frames)):  # the two in-step sides take turns on each frame
            for name in (("every_frame", "scheduled") if i % 2 == 0 else ("scheduled", "every_frame")):
                step(sides[name], i)
        # The live view's way: detection on its own thread, frames arriving at the video's pace and only the
        # newest one processed (those that came while it worked are dropped, as from a camera).
        background = sides["background"] = side("background", live_settings())
        started, i = time.perf_counter(), 0
        while i < len(frames):
            step(background, i)
            now = (time.perf_counter() - started) * args.fps
            i = max(i + 1, int(now))
            if i > now:
                time.sleep((i - now) / args.fps)
        background["seconds"] = time.perf_counter() - started
        background["recogniser"].close(wait=True)
    result = {"source": str(args.source), "frames": len(frames), "detect_every": args.every, "threads": threads}
    reference = sides["every_frame"]["faces"]
    for name, data in sides.items():
        ms = np.array(data["ms"])
        found = sum(data["faces"].values())
        result[name] = {"processed": len(ms), "faces_per_frame": found / len(ms),
                        # faces found over what full detection finds on the same frames
                        "faces_ratio": found / max(1, sum(reference[i] for i in data["faces"])),
                        "ms_p50": float(np.percentile(ms, 50)), "ms_p95": float(np.percentile(ms, 95)),
                        "full_detection_share": data["full"] / len(ms), "marked": sorted(data["marked"])}
    result["background"]["processed_fps"] = len(sides["background"]["ms"]) / sides["background"]["seconds"]
    print(f"{args.source.name}, {len(frames)} frames, {threads} thread(s)")
    for name in sides:
        r = result[name]
        print(f"  {name:12s} {r['processed']:4d} frames  faces/frame {r['faces_per_frame']:.2f} "
              f"({r['faces_ratio']:.1%} of full detection's; target >= 95 %)  ms p50 {r['ms_p50']:.1f} "
              f"p95 {r['ms_p95']:.1f}  full detections {r['full_detection_share']:.0%}  "
              f"marked {', '.join(r['marked']) or '-'}")
    print(f"  background: {result['background']['processed_fps']:.1f} processed fps at the video's {args.fps:g} fps")
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
