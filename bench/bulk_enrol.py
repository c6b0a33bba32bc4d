"""Bulk enrolment speed: a folder of one sub-folder of photos per person through the service, as
`rollcall enroll-folder` and the desktop's bulk enrolment run it.

    python -m bench.bulk_enrol --faces ../shared/faces/orl --people 40 --photos 10 [--json OUT]

Links `photos` photos of each of the first `people` subjects (ORL layout: s1..s40, 1.pgm..10.pgm) into
a temporary folder, opens a fresh temporary database and times `plan_enrol_folder` + `enrol_jobs`
(every photo through the enrolment quality gates and the embedder, each person saved in their own
transaction). Loading the models is timed apart. Prints wall time, photos/s, people enrolled and samples
saved, and the rejection reasons.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

from bench.common import print_result
from core.service import EngineSettings, Rollcall


def link_folder(faces: Path, out: Path, people: int, photos: int) -> int:
    """`people` sub-folders of `photos` links each into OUT; how many photos were linked."""
    subjects = sorted((p for p in faces.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name))[:people]
    if len(subjects) < people:
        raise SystemExit(f"{faces} has {len(subjects)} subject folders, fewer than --people {people}")
    linked = 0
    for subject in subjects:
        folder = out / subject.name
        folder.mkdir(parents=True)
        images = sorted((p for p in subject.iterdir() if p.is_file() and not p.name.startswith(".")),
                        key=lambda p: (len(p.name), p.name))[:photos]
        for image in images:
            (folder / image.name).symlink_to(image.resolve())
            linked += 1
    return linked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=Path, required=True, help="a folder of subject folders (../shared/faces/orl)")
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--photos", type=int, default=10, help="photos per person")
    parser.add_argument("--detector", default="mtcnn", help="mtcnn (default) or yunet:PATH.onnx")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the development machine has 2 cores)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result: dict = {"machine": {"platform": platform.platform(), "torch_threads": torch.get_num_threads()},
                    "detector": args.detector, "people": args.people, "photos_per_person": args.photos}
    with tempfile.TemporaryDirectory(prefix="rollcall-bulk-") as tmp:
        root = Path(tmp) / "photos"
        result["photos"] = link_folder(args.faces, root, args.people, args.photos)
        with Rollcall.open(Path(tmp) / "bulk.db", EngineSettings(detector=args.detector)) as service:
            t0 = time.perf_counter()
            service.enroller()  # the models, loaded once (the app has them loaded already)
            result["model_load_s"] = round(time.perf_counter() - t0, 2)
            done = []
            t0 = time.perf_counter()
            jobs = service.plan_enrol_folder(root)
            report = service.enrol_jobs(jobs, progress=lambda d, total, name: done.append(d))
            wall = time.perf_counter() - t0
            people = service.gallery.people()
            samples = sum(p.n_samples for p in people)
        rejected: Counter = Counter()
        for outcome in report.outcomes:
            rejected.update(outcome.rejected)
        result.update({
            "wall_s": round(wall, 1),
            "photos_checked": report.photos_checked,
            "photos_per_s": round(report.photos_checked / wall, 2),
            "samples_per_s": round(samples / wall, 2),
            "people_enrolled": sum(o.state == "enrolled" for o in report.outcomes),
            "samples_saved": samples,
            "needing_photos": len(report.needing_photos),
            "rejected": dict(rejected.most_common()),
            "progress_calls": len(done),
            "summary": report.summary(),
        })
    print_result(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
