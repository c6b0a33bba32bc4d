"""Per-model impostor tables for the threshold policy (core.gallery.policy), from identity-disjoint photos.

    python -m bench.impostor_table --data ../shared/train/celeba76 --embedders dlib [PATH...]
        [--ship dlib] [--json bench/results/impostor_tables.json] [--module core/gallery/impostor_tables.py]

Every photo's largest face is embedded (bench.calibrate_defaults' pass). Each person is enrolled as
the gallery does it: templates, the normalised mean of ENROLL photos, several per person from disjoint
photos. Every other person's photos are the strangers: their scores against the template are the
impostor comparisons the table is made of (per-comparison FAR against threshold, core.gallery.policy).
The same is measured for image pairs (a person enrolled with one photo); the table keeps, at each
FAR, the higher of the two thresholds, so it holds whether people enrolled with one photo or more.

Route "small": every photo shrunk so its face is SMALL_PX wide (core.vision.degrade), aligned at 28 px
and upscaled bicubically to the embedder (the pipeline's small-face route without a DSR), against the
full-resolution templates. Margin: one decade of FAR at the default bar (`choose_margin`), with its
cost measured on genuine probes' top-1 minus top-2 against a gallery of every person.

The JSON gets every model's tables; the module only the models named by --ship (test weights stay out).
Measure on training people only: nothing in ../shared/bench may be used here.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import math
from pathlib import Path

import numpy as np

from bench.calibrate_defaults import EmbeddedPhotos, embed_largest_faces, read_subject_photos
from bench.common import write_json
from core.benchmarks.lowres import LowresModels, embed_degraded
from core.gallery.calibration import TemplateTrials, pair_scores, template_trials, threshold_for_far
from core.gallery.policy import DEFAULT_SESSIONS, TAIL_PAIRS, ImpostorTable, per_comparison_far
from core.vision.detect import create_detector
from core.vision.models.superres import BicubicResolver
from core.vision.pipeline import FacePipeline, build_pipeline

logger = logging.getLogger(__name__)

ENROLL = 3  # photos per template (the open-set benchmark's --enroll-per-subject)
TEMPLATES_PER_PERSON = 5
SMALL_PX = 16
MARGIN_ENROLLED = 100  # the gallery size the margin's bar is taken at
MARGIN_MIN = 0.002  # never below this (a near-tie); cosines are rounded to 4 places in the logs
MODULE = Path("core/gallery/impostor_tables.py")


def embed_small(pipeline: FacePipeline, detector: str, images: list, found: EmbeddedPhotos, size: int) -> np.ndarray:
    """Each found face shrunk to `size` px wide and embedded through the bicubic small-face route
    (core.benchmarks.lowres' degradation and landmark search); rows follow `found`."""
    lr = FacePipeline(create_detector(detector, min_face_size=12), pipeline.embedder)
    models = LowresModels(pipeline, lr, {"bicubic": BicubicResolver(), "dsr": None})
    out = np.zeros_like(found.embeddings)
    for row, (index, landmarks) in enumerate(zip(found.photo_index, found.landmarks)):
        vectors, _, _ = embed_degraded(models, images[index][1], landmarks, size)
        out[row] = vectors["bicubic"]
        if (row + 1) % 200 == 0:
            logger.info("%d px: %d/%d faces", size, row + 1, len(found.labels))
    return out


def embed_model(spec: str, detector: str, images: list, small_px: int) -> dict[str, np.ndarray]:
    """Labels, full-resolution ("direct") and small-route ("small", when small_px > 0) embeddings."""
    pipeline = build_pipeline(detector, spec)
    found = embed_largest_faces(pipeline, images)
    logger.info("%s: %d of %d photos have a face", spec, len(found.labels), len(images))
    arrays = {"labels": found.labels, "direct": found.embeddings, "photo_index": found.photo_index,
              "identity": np.array(pipeline.embedder.identity), "name": np.array(pipeline.embedder.name),
              "dim": np.array(pipeline.embedder.dim)}
    if small_px > 0:
        arrays["small"] = embed_small(pipeline, detector, images, found, small_px)
    return arrays


def cached_embeddings(cache: Path | None, key: str, compute) -> dict[str, np.ndarray]:
    """compute() -> dict of arrays, kept in CACHE/<key>.npz between runs (development only)."""
    path = cache / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz" if cache else None
    if path is not None and path.is_file():
        with np.load(path, allow_pickle=False) as data:
            logger.info("embeddings from %s", path)
            return {k: data[k] for k in data.files}
    arrays = compute()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **arrays)
    return arrays
def cross_impostor(labels: np.ndarray, probes: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Scores of every probe against every photo of somebody else (people enrolled with one photo)."""
    unit = lambda v: v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)  # noqa: E731
    sims = unit(np.asarray(probes, np.float32)) @ unit(np.asarray(gallery, np.float32)).T
    return sims[labels[:, None] != labels[None, :]].astype(np.float64)


def choose_margin(trials: TemplateTrials, table: ImpostorTable) -> tuple[float, dict]:
    """The margin: the cosine span of one decade of FAR at the default bar for MARGIN_ENROLLED people, so
    the best person must be at least 10x rarer as a stranger's score than the runner-up (at least
    MARGIN_MIN); and what it costs on genuine probes against a gallery of everybody (top-1 minus top-2)."""
    far = per_comparison_far(DEFAULT_SESSIONS, MARGIN_ENROLLED)
    bar = table.threshold_at(far)
    margin = max(math.floor((table.threshold_at(far / 10) - bar) * 1e4) / 1e4, MARGIN_MIN)
    passed = (trials.own >= bar) & (trials.own > trials.best_other)
    gaps = trials.own[passed] - trials.best_other[passed]
    strangers = trials.best_other >= bar  # the probe as a stranger to everybody else, passing the bar
    stranger_gaps = trials.best_other[strangers] - trials.second_other[strangers]
    wrong = (trials.best_other >= bar) & (trials.best_other > trials.own)  # somebody else would be marked
    wrong_gaps = trials.best_other[wrong] - np.maximum(trials.own[wrong], trials.second_other[wrong])
    report = {
        "bar": round(bar, 4), "bar_enrolled": MARGIN_ENROLLED, "gallery_people": trials.people,
        "genuine_passing": int(passed.sum()), "genuine_gap_quantiles": {
            f"{q:g}": round(float(np.quantile(gaps, q)), 4) for q in (0.001, 0.01, 0.05, 0.5)} if len(gaps) else {},
        "genuine_refused_by_margin": round(float((gaps < margin).mean()), 4) if len(gaps) else None,
        "strangers_passing_bar": int(strangers.sum()),
        "strangers_refused_by_margin": int((stranger_gaps < margin).sum()),
        "wrong_person_passing_bar": int(wrong.sum()), "wrong_person_refused_by_margin": int((wrong_gaps < margin).sum()),
    }
    return margin, report


def route_table(arrays: dict, route: str, measured_on: str) -> tuple[ImpostorTable, dict]:
    """The table of one route (probes full resolution or small), its margin and what was measured."""
    labels, direct = arrays["labels"], arrays["direct"]
    probes = direct if route == "direct" else arrays[route]
    trials = template_trials(labels, direct, ENROLL, TEMPLATES_PER_PERSON, probes=None if route == "direct" else probes)
    single = pair_scores(labels, direct)[1] if route == "direct" else cross_impostor(labels, probes, direct)
    common = dict(model=str(arrays["identity"]), name=str(arrays["name"]), dim=int(arrays["dim"]), route=route,
                  measured_on=measured_on)
    provisional = ImpostorTable.from_scores([trials.impostor, single], margin=MARGIN_MIN, **common)
    margin, margin_report = choose_margin(trials, provisional)
    table = dataclasses.replace(provisional, margin=margin)
    report = {
        "table": table.to_dict(),
        "template_comparisons": len(trials.impostor), "single_photo_comparisons": len(single),
        "templates": trials.templates, "people": trials.people, "enroll": ENROLL,
        "genuine_template_comparisons": len(trials.genuine),
        "thresholds": {f"{far:g}": {
            "table": round(table.threshold_at(far), 4),
            "templates_only": round(threshold_at_or_none(trials.impostor, far), 4),
            "single_photo_only": round(threshold_at_or_none(single, far), 4),
            "genuine_rejected": round(float((trials.genuine < table.threshold_at(far)).mean()), 4),
        } for far in (1e-3, 1e-4, 1e-5, 1e-6)},
        "margin": margin_report,
    }
    return table, report


def threshold_at_or_none(scores: np.ndarray, far: float) -> float:
    """The empirical threshold where the scores support it (TAIL_PAIRS above), else nan."""
    return threshold_for_far(scores, far) if len(scores) * far >= TAIL_PAIRS else float("nan")


def write_module(path: Path, tables: list[ImpostorTable], command: str) -> Path:
    """The generated data module core.gallery.impostor_tables: one entry per (model, route), a line a point."""
    lines = ['"""Impostor tables of the shipped models, keyed by (Embedder.identity, route). Generated by',
             f"`{command}`", '(bench/impostor_table.py, docs/BENCHMARKS.md); do not edit by hand."""', "",
             "TABLES: dict[tuple[str, str], dict] = {"]
    for t in tables:
        entry = t.to_dict()
        points = entry.pop("points")
        lines.append(f"    ({t.model!r}, {t.route!r}): {{")
        lines += [f"        {key!r}: {value!r}," for key, value in entry.items()]
        lines.append("        'points': [")
        lines += [f"            ({far!r}, {threshold!r})," for far, threshold in points]
        lines += ["        ],", "    },"]
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder of subject folders (training people only)")
    parser.add_argument("--detector", default="mtcnn")
    parser.add_argument("--embedders", nargs="+", default=["dlib"])
    parser.add_argument("--small-px", type=int, default=SMALL_PX, help="face width of the small route (0: none)")
    parser.add_argument("--ship", nargs="*", default=["dlib"], help="embedders whose tables go into --module")
    parser.add_argument("--module", type=Path, default=MODULE)
    parser.add_argument("--json", type=Path, default=Path("bench/results/impostor_tables.json"))
    parser.add_argument("--cache", type=Path, help="keep the embeddings here between runs (development)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    images: list = []
    shipped, results = [], {}
    for spec in args.embedders:
        def compute(spec: str = spec) -> dict[str, np.ndarray]:
            if not images:
                images.extend(read_subject_photos(args.data))
            return embed_model(spec, args.detector, images, args.small_px)
        arrays = cached_embeddings(args.cache, f"{spec}|{args.detector}|{args.data.resolve()}|{args.small_px}|v1",
                                   compute)
        measured_on = (f"{args.data.name}: {len(set(arrays['labels'].tolist()))} people, {len(arrays['labels'])} "
                       f"photos with a face ({args.detector})")
        entry: dict = {"photos_with_face": len(arrays["labels"]), "routes": {}}
        for route in ("direct", "small") if "small" in arrays else ("direct",):
            table, report = route_table(arrays, route, measured_on + ("" if route == "direct" else
                                                                      f"; faces shrunk to {args.small_px} px"))
            entry["routes"][route] = report
            print(f"{table.name:16s} {route:6s} margin {table.margin:.4f} thresholds "
                  + " ".join(f"{k}: {v['table']:.4f}" for k, v in report["thresholds"].items()))
            if spec in args.ship:
                shipped.append(table)
        results[str(arrays["name"])] = entry
    write_json(args.json, {"data": str(args.data), "detector": args.detector, "enroll": ENROLL,
                           "small_px": args.small_px, "models": results})
    if shipped:
        command = ("python -m bench.impostor_table --data " + str(args.data) + " --embedders "
                   + " ".join(args.embedders) + " --ship " + " ".join(args.ship))
        write_module(args.module, shipped, command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
