"""Memory soak of the live loop: RSS over time while the service recognises a looped clip.

    python -m bench.soak --minutes 30 --json [--threads 1] [--pace realtime] [--tracemalloc]

A temporary data folder gets the two Hamilton reference people enrolled and a session started; the
clip (shared/video/hamilton_clip.mp4) then plays forever through `Rollcall.open_run` with unknown faces
recorded, as `rollcall run --record-unknown` does. RSS is sampled every --every seconds; the growth is
measured from --warmup minutes on (the first frames fill caches and the allocator's pools). With
--tracemalloc, the Python allocations that grew most between the end of warm-up and the end are listed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ROLLCALL_SHARED", REPO.parent / "shared"))


def rss_mb() -> float:
    """The resident set size of this process, MB (Linux /proc; ru_maxrss elsewhere, a peak)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def looping_source(path: Path):
    """A FrameSource over the video file that starts again at its end, its clock running on."""
    from core.attendance.sources import FrameSource

    class LoopingSource(FrameSource):
        loops = 0
        _offset = 0.0
        _last = 0.0

        def read(self):  # noqa: ANN202
            frame, t = super().read()
            if frame is None:
                self.loops += 1
                self._offset += self._last + 1.0 / max(self.fps, 1.0)
                self.close()
                self.open()
                frame, t = super().read()
                if frame is None:
                    return None, 0.0
            self._last = t
            return frame, self._offset + t

    return LoopingSource(str(path))


def enrol_refs(service, refs: list[Path]) -> list[str]:
    names = []
    enroller = service.enroller()
    for ref in refs:
        verdict = enroller.check_file(ref)
        if not verdict.ok:
            raise SystemExit(f"cannot enrol {ref}: {verdict.reason}")
        names.append(service.enrol(ref.stem, [verdict]).name)
    return names


def growth(samples: list[dict], warmup_s: float) -> dict:
    """RSS growth from the first sample at or after the warm-up to the last, and a least-squares slope."""
    after = [s for s in samples if s["t_s"] >= warmup_s]
    if len(after) < 2:
        return {"from_mb": None, "to_mb": None, "growth_mb": None, "slope_mb_per_min": None}
    n = len(after)
    ts = [s["t_s"] / 60 for s in after]
    ys = [s["rss_mb"] for s in after]
    mt, my = sum(ts) / n, sum(ys) / n
    var = sum((t - mt) ** 2 for t in ts) or 1e-9
    slope = sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / var
    return {"from_mb": round(ys[0], 1), "to_mb": round(ys[-1], 1), "growth_mb": round(ys[-1] - ys[0], 1),
            "max_after_warmup_mb": round(max(ys), 1), "slope_mb_per_min": round(slope, 3)}


def top_growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, n: int = 15) -> list[str]:
    stats = after.compare_to(before, "traceback")
    return ["\n".join([f"{s.size_diff / 1024:+.0f} KiB in {s.count_diff:+d} blocks"] + s.traceback.format()[-6:])
            for s in stats[:n]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0, help="minutes before growth is measured")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine runs other work)")
    parser.add_argument("--pace", choices=("realtime", "every_frame"), default="realtime")
    parser.add_argument("--clip", type=Path, default=SHARED / "video" / "hamilton_clip.mp4")
    parser.add_argument("--tracemalloc", action="store_true", help="list the Python allocations that grew")
    parser.add_argument("--trim-every", type=int, default=0, metavar="N",
                        help="hand freed heap memory back every N frames (core.vision.imageio.return_freed_memory)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    import torch

    from core.attendance.recogniser import RecognitionSettings
    from core.service import Rollcall
    from core.vision.imageio import return_freed_memory

    torch.set_num_threads(args.threads)
    refs = sorted((SHARED / "video" / "hamilton_refs").glob("*.png"))
    if not args.clip.is_file() or not refs:
        raise SystemExit(f"shared data missing: {args.clip} and hamilton_refs/*.png")
    samples: list[dict] = []
    frames = 0
    with tempfile.TemporaryDirectory(prefix="rollcall-soak-") as folder:
        service = Rollcall.open(Path(folder))
        people = enrol_refs(service, refs)
        session = service.open_or_start("soak")
        source = looping_source(args.clip)
        run = service.open_run(source, session.id, RecognitionSettings(record_unknown=True), pace=args.pace)
        stop = threading.Event()
        started = time.monotonic()
        snapshots: dict[str, tracemalloc.Snapshot] = {}
        if args.tracemalloc:
            tracemalloc.start(8)

        def sample() -> None:
            t = time.monotonic() - started
            samples.append({"t_s": round(t, 1), "rss_mb": round(rss_mb(), 1), "frames": frames,
                            "loops": source.loops, "dropped": run.dropped})
            if not args.json:
                print(f"{t:7.0f} s  {samples[-1]['rss_mb']:7.1f} MB  {frames} frames  {source.loops} loops",
                      flush=True)

        sample()
        next_sample = started + args.every
        for _frame, _report in run.frames(stop):
            frames += 1
            if args.trim_every and frames % args.trim_every == 0:
                return_freed_memory()
            now = time.monotonic()
            if now >= next_sample:
                next_sample += args.every
                if args.tracemalloc and "warm" not in snapshots and now - started >= args.warmup * 60:
                    gc.collect()
                    snapshots["warm"] = tracemalloc.take_snapshot()
                sample()
            if now - started >= args.minutes * 60:
                break
        run.close()
        sample()
        marks = [m.person_name for m in service.attendance.marks(session.id)]
        unknown = service.attendance.count_unknown(session.id)
        service.close()
    result = {
        "minutes": args.minutes, "warmup_min": args.warmup, "threads": args.threads, "pace": args.pace,
        "trim_every": args.trim_every,
        "frames": frames, "loops": source.loops, "enrolled": people, "marked": marks, "unknown_records": unknown,
        "growth_after_warmup": growth(samples, args.warmup * 60),
        "samples": samples,
    }
    if args.tracemalloc and "warm" in snapshots:
        gc.collect()
        result["tracemalloc_top"] = top_growth(snapshots["warm"], tracemalloc.take_snapshot())
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
