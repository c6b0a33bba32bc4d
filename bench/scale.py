"""Gallery scale with synthetic embeddings: template loading, search and enrolment write speed.

    python -m bench.scale --people 100000 --samples 5 --dim 512 [--json OUT]

Builds a database of `people` x `samples` synthetic samples (tiny placeholder face images,
random unit embeddings, real templates) in a temporary folder, then measures:
- loading the active model's template matrix from SQLite (Gallery.templates);
- top-1 search for one face and for a batch of 8 (TemplateIndex.identify);
- enrolment writes through Gallery.add_person with full-size face images (no model time).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from bench.common import print_result
from core.storage.db import Database
from core.gallery.store import Gallery
from core.gallery.faces import FACE_SIZE, FaceSample
from core.gallery.records import normalise, now_iso, to_blob
from core.gallery.matching import TemplateIndex


def build(db: Database, model_id: int, people: int, samples: int, dim: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    placeholder = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    stamp = now_iso()
    chunk = 5000
    for start in range(0, people, chunk):
        n = min(chunk, people - start)
        centres = normalise(rng.normal(size=(n, dim)).astype(np.float32))
        with db.transaction() as conn:
            for i in range(n):
                pid = conn.execute("INSERT INTO people(name, created_at, updated_at) VALUES (?, ?, ?)",
                                   (f"person {start + i}", stamp, stamp)).lastrowid
                vecs = normalise(centres[i] + 0.3 * rng.normal(size=(samples, dim)).astype(np.float32) / np.sqrt(dim))
                for v in vecs:
                    sid = conn.execute(
                        "INSERT INTO samples(person_id, face_jpeg, landmarks, face_size, sharpness, yaw, det_score,"
                        " source, captured_at) VALUES (?, ?, '[]', 100, 100, 0, 1, 'synthetic', ?)",
                        (pid, placeholder, stamp)).lastrowid
                    conn.execute("INSERT INTO embeddings(sample_id, model_id, vector) VALUES (?, ?, ?)",
                                 (sid, model_id, to_blob(v)))
                conn.execute("INSERT INTO templates(person_id, model_id, vector, n_samples, updated_at)"
                             " VALUES (?, ?, ?, ?, ?)", (pid, model_id, to_blob(normalise(vecs.mean(0))), samples, stamp))


def timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--enrol-people", type=int, default=200, help="people enrolled for the write-speed figure")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result: dict = {"people": args.people, "samples_per_person": args.samples, "dim": args.dim}
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "scale.db")
        with db.transaction() as conn:
            model_id = conn.execute(
                "INSERT INTO models(name, arch, file_hash, source, dim, threshold, created_at)"
                " VALUES ('synthetic', 'none', 'synthetic', '', ?, 0.5, ?)", (args.dim, now_iso())).lastrowid
        t0 = time.perf_counter()
        build(db, model_id, args.people, args.samples, args.dim)
        result["build_s"] = round(time.perf_counter() - t0, 1)
        gallery = Gallery(db)
        db.close()

        db = Database(Path(tmp) / "scale.db")  # cold connection, as after starting the app
        gallery = Gallery(db)
        loaded = {}
        load_ms = timed(lambda: loaded.update(t=gallery.templates(model_id)), 3)
        result["template_load_ms"] = {"first": round(load_ms[0], 1), "median": round(statistics.median(load_ms), 1)}
        index = TemplateIndex(*loaded["t"])
        rng = np.random.default_rng(1)
        one = normalise(rng.normal(size=(1, args.dim)).astype(np.float32))
        eight = normalise(rng.normal(size=(8, args.dim)).astype(np.float32))
        index.identify(eight, 0.5)
        result["search_ms"] = {
            "one_face": round(statistics.median(timed(lambda: index.identify(one, 0.5), 30)), 2),
            "batch_of_8": round(statistics.median(timed(lambda: index.identify(eight, 0.5), 30)), 2),
        }

        model = gallery.model(model_id)
        face = cv2.GaussianBlur(rng.integers(0, 256, (FACE_SIZE, FACE_SIZE, 3), dtype=np.uint8), (0, 0), 3)
        lm = np.zeros((5, 2), np.float32)
        t0 = time.perf_counter()
        for i in range(args.enrol_people):
            samples = [FaceSample(face, lm, 100, 100, 0, 1, "bench") for _ in range(args.samples)]
            vecs = normalise(rng.normal(size=(args.samples, args.dim)).astype(np.float32))
            gallery.add_person(f"new {i}", samples, vecs, model)
        seconds = time.perf_counter() - t0
        result["enrolment_samples_per_s"] = round(args.enrol_people * args.samples / seconds, 1)
        result["db_size_mb"] = round((Path(tmp) / "scale.db").stat().st_size / 1e6, 1)
        db.close()
    print_result(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
