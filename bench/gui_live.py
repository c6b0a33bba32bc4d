"""The desktop app's live loop, measured in the real main window: processed frames per second,
frame-to-name latency and GUI event-loop stalls, with a video played at its recorded speed.

    QT_QPA_PLATFORM=offscreen python -m bench.gui_live --video ../shared/video/hamilton_clip.mp4 \
        --enrol "Lin-Manuel Miranda=../shared/video/hamilton_refs/lin-manuel-miranda.png" \
        --enrol "Alex Lacamoire=../shared/video/hamilton_refs/alex-lacamoire.png" --json out.json

Latency: from the moment the grabber read a frame to the moment the GUI thread received its
names (the frame waits in the mailbox while the previous one is recognised; that wait counts).
Stalls: a 5 ms timer on the GUI thread; a stall is how much later than due it fired. The
database and settings live in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections import deque
from pathlib import Path

import numpy as np
import torch

from bench.common import open_main_window, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--enrol", action="append", default=[], metavar="NAME=PHOTO")
    parser.add_argument("--detector", default="mtcnn")
    parser.add_argument("--min-face", type=int, default=20, help="smallest face searched for (Settings)")
    parser.add_argument("--repeat", type=int, default=1, help="play the video this many times")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from PySide6.QtCore import QElapsedTimer, QTimer

    from core.gallery.enrol import Enroller
    from desktop.config import DesktopConfig

    folder = Path(tempfile.mkdtemp(prefix="rollcall-bench-"))
    config = DesktopConfig(source=str(args.video), file_pace="realtime", detector=args.detector, data_folder=str(folder),
                           min_face_size=args.min_face)
    app, ctx, window = open_main_window(folder, config)
    notifier = ctx.notifier
    load = ctx.load_engine()
    while not load.settled:
        app.processEvents()
        time.sleep(0.01)
    enroller = Enroller(ctx.pipeline, ctx.gallery)
    for item in args.enrol:
        name, photo = item.split("=", 1)
        verdict = enroller.check_file(photo)
        if not verdict.ok:
            raise SystemExit(f"{photo}: {verdict.reason}")
        enroller.enrol(name, [verdict])
    ctx.gallery_changed.emit()

    page = window.live
    page.latencies_ms = deque(maxlen=1_000_000)
    stalls: list[float] = []
    clock = QElapsedTimer()
    interval_ms = 5

    def tick() -> None:
        elapsed = clock.restart()
        stalls.append(max(0.0, elapsed - interval_ms))

    timer = QTimer()
    timer.setInterval(interval_ms)
    timer.timeout.connect(tick)

    process_ms: list[float] = []
    stage_ms: dict[str, list[float]] = {}

    def record() -> None:
        frame = page.last_frame
        if frame is not None:
            process_ms.append(frame.process_ms)
            for stage, ms in frame.timings_ms.items():
                stage_ms.setdefault(stage, []).append(ms)

    page.worker.frame_ready.connect(record)

    results = []
    for run in range(args.repeat):
        page.start_session(f"bench {run}")
        processed0 = page.worker.frames_processed
        stalls.clear()
        process_ms.clear()
        stage_ms.clear()
        page.start()
        while not page.running:
            app.processEvents()
        started = time.monotonic()
        clock.start()
        timer.start()
        while page.running:
            app.processEvents()
            time.sleep(0.001)
        seconds = time.monotonic() - started
        timer.stop()
        processed = page.worker.frames_processed - processed0
        latency = np.asarray(page.latencies_ms)
        marks = ctx.attendance.marks(ctx.attendance.find_session(f"bench {run}").id)
        result = {
            "processed_frames": processed,
            "seconds": round(seconds, 2),
            "processed_fps": round(processed / seconds, 2),
            "frames_shown": page.frames_shown,
            "dropped": page.last_frame.dropped if page.last_frame else None,
            "latency_ms_p50": round(float(np.percentile(latency, 50)), 1),
            "latency_ms_p95": round(float(np.percentile(latency, 95)), 1),
            "latency_ms_max": round(float(latency.max()), 1),
            "process_ms_p50": round(float(np.percentile(process_ms, 50)), 1),
            "process_ms_p95": round(float(np.percentile(process_ms, 95)), 1),
            **{f"{stage}_ms_p50_p95": [round(float(np.percentile(v, q)), 1) for q in (50, 95)]
               for stage, v in stage_ms.items()},
            "stall_ms_max": round(max(stalls), 1),
            "stall_ms_p99": round(float(np.percentile(stalls, 99)), 1),
            "stalls_over_50ms": int(sum(s > 50 for s in stalls)),
            "marked": sorted(m.person_name for m in marks),
        }
        results.append(result)
        print(json.dumps(result))
    errors = [f"{n.title}: {n.text}" for n in notifier.history if n.level == "error"]
    for session in ctx.service.open_sessions():  # ended here, so closing the window asks nothing
        ctx.service.stop_session(session.id)
    window.close()
    summary = {
        "video": str(args.video), "detector": args.detector, "min_face": args.min_face, "runs": results, "errors": errors,
        "machine": {"cpus": torch.get_num_threads(), "platform": platform.platform(), "torch": torch.__version__},
    }
    if args.json:
        write_json(args.json, summary)
    if errors:
        print("errors:", errors)


if __name__ == "__main__":
    main()
