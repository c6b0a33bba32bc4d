"""Thread policy (issue 17): per-frame time for torch threads x OpenMP wait policy x a quiet or loaded CPU.

    python -m bench.threads --calls 40 --json bench/results/threads.json
    python -m bench.threads --stage embed --calls 100 --json bench/results/threads_embed.json

Each configuration runs in a fresh process (OMP_WAIT_POLICY is read once, when libgomp loads with torch);
"loaded" starts one busy-looping process (one core's worth of other work) for the time of that run.
--stage frame times the live worker's per-frame path, FacePipeline.process (MTCNN + dlib-port embedder),
on frames of the hamilton clip; --stage embed times the embedder alone on one aligned face of those frames
per call (batch of one). Prints the median and 95th percentile milliseconds per call.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import write_json

SHARED = Path(os.environ.get("ROLLCALL_SHARED", Path(__file__).resolve().parents[2] / "shared"))
CLIP = SHARED / "video" / "hamilton_clip.mp4"
HOG = "while True: pass"


def child(threads: int, calls: int, frames_wanted: int, stage: str) -> dict:
    """Time `calls` frames in this process (its OMP_WAIT_POLICY already set by the parent)."""
    import torch

    from bench.common import read_frames
    from core.vision.pipeline import build_pipeline

    torch.set_num_threads(threads)
    frames = read_frames(CLIP, frames_wanted)
    pipeline = build_pipeline()
    if stage == "embed":
        crops = [face.crop[None] for frame in frames for face in pipeline.align_detections(frame, pipeline.detect(frame))]
        if not crops:
            raise SystemExit(f"no faces found in the first {len(frames)} frames of {CLIP}")
        items, call = crops, pipeline.embedder.embed
    else:
        items, call = frames, pipeline.process
    for item in items[:3]:  # warm-up
        call(item)
    times = []
    for i in range(calls):
        started = time.perf_counter()
        call(items[i % len(items)])
        times.append((time.perf_counter() - started) * 1000)
    return {"times_ms": times, "torch_threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)")}


def run_config(threads: int, policy: str, loaded: bool, calls: int, frames: int, stage: str) -> dict:
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    if policy == "default":
        env.pop("OMP_WAIT_POLICY", None)
    else:
        env["OMP_WAIT_POLICY"] = policy
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    hog = subprocess.Popen([sys.executable, "-c", HOG]) if loaded else None
    try:
        out = subprocess.run([sys.executable, "-m", "bench.threads", "--child", "--threads", str(threads),
                              "--calls", str(calls), "--frames", str(frames), "--stage", stage],
                             env=env, capture_output=True, text=True, check=True)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    result = json.loads(out.stdout.strip().splitlines()[-1])
    times = sorted(result["times_ms"])
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return {"stage": stage, "threads": threads, "policy": policy, "load": "loaded" if loaded else "quiet",
            "median_ms": round(statistics.median(times), 1), "p95_ms": round(p95, 1), "calls": len(times),
            "torch_threads": result["torch_threads"], "omp_wait_policy": result["omp_wait_policy"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--policies", nargs="+", default=["default", "ACTIVE", "PASSIVE"],
                        help="OMP_WAIT_POLICY values; 'default' leaves it unset (libgomp's spin-then-sleep)")
    parser.add_argument("--calls", type=int, default=25, help="timed frames per configuration")
    parser.add_argument("--frames", type=int, default=10, help="distinct clip frames cycled through")
    parser.add_argument("--stage", choices=("frame", "embed"), default="frame",
                        help="frame: the whole per-frame path; embed: the embedder on one face per call")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.threads[0], args.calls, args.frames, args.stage)))
        return 0
    if not CLIP.is_file():
        raise SystemExit(f"shared data missing: {CLIP} (set ROLLCALL_SHARED)")
    rows = []
    print(f"{'threads':>7} {'wait policy':>11} {'CPU':>6} {'median ms':>10} {'p95 ms':>8}")
    for loaded in (False, True):
        for threads in args.threads:
            for policy in args.policies:
                row = run_config(threads, policy, loaded, args.calls, args.frames, args.stage)
                rows.append(row)
                print(f"{threads:>7} {policy:>11} {row['load']:>6} {row['median_ms']:>10} {row['p95_ms']:>8}",
                      flush=True)
    if args.json:
        write_json(args.json, {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                           "python": platform.python_version()},
                               "command": "python -m bench.threads " + " ".join(argv or sys.argv[1:]),
                               "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
