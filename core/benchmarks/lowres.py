"""Low-resolution face verification: full resolution vs bicubic vs DSR vs direct, on a pairs benchmark.

The one protocol behind `python -m bench.lowres` and the trainer's `eval-lowres` job (pairs mode), so
both measure small faces alike. Evaluation only: never tune anything on it. The full-resolution pass
can be cached (`core.benchmarks.lowres_cache`); `run_benchmark` reports progress and can be stopped.

Protocol: docs/BENCHMARKS.md#the-low-resolution-benchmark-protocol
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from core.vision.align import align_face
from core.vision.degrade import downscale_face, face_width
from core.vision.detect import create_detector
from core.errors import ConfigError
from core.vision.imageio import read_image
from core.benchmarks.lowres_cache import HRPass, HRPassCache, hr_cache_key
from core.vision.models.base import Embedder
from core.vision.models.loading import load_resolver
from core.vision.models.superres import BicubicResolver, SuperResolver
from core.vision.pipeline import FacePipeline, build_pipeline, resolve_device
from core.benchmarks.verification import (
    IMAGES_DIRNAME, PAIRS_FILENAME, Pairs, check_images_exist, check_pair_counts, image_names, largest_face,
    limit_pairs, pair_metrics, read_pairs, score_pairs,
)

logger = logging.getLogger(__name__)

METHODS = ("bicubic", "dsr", "direct")
MATCH_FRACTION = 0.25  # a detection matches the HR face when its landmarks are this close (x face width)
DEFAULT_SIZES = (12, 16, 24, 32)
LOG_EVERY = 200  # images between log lines
NO_DSR = ("", "none")

ProgressCallback = Callable[[int, int, str], None]  # (images done, images in all, phase)
StopCheck = Callable[[], bool]


class BenchmarkStopped(Exception):
    """`should_stop()` answered True: the benchmark ended early, without a result."""

    def __init__(self, done: int) -> None:
        self.done = done
        super().__init__(f"low-resolution benchmark stopped after {done} image(s)")


@dataclass(frozen=True)
class LowresSettings:
    """What the benchmark runs on and with (the CLI's arguments, the job's config)."""

    data: Path  # folder with images/ and pairs.txt
    sizes: tuple[int, ...] = DEFAULT_SIZES  # face widths in px
    detector: str = "mtcnn"  # "mtcnn" | "yunet:PATH"
    embedder: str = "dlib"  # "dlib" | model file
    dsr: str = "none"  # "none" | DSR checkpoint
    device: str = "cpu"  # "cpu" | "cuda" | "auto"
    min_face: int = 20  # smallest face to detect at full resolution
    lr_min_face: int = 12  # smallest face to detect on the degraded images
    limit: int | None = None  # use only N pairs, half of each kind (smoke runs)
    cache_dir: Path | None = None  # where the HR pass is cached; None: no cache

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", Path(self.data))
        object.__setattr__(self, "sizes", tuple(sorted({int(s) for s in self.sizes})))
        if self.cache_dir is not None:
            object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        if not self.sizes or min(self.sizes) < 1:
            raise ConfigError(f"sizes must be one or more face widths in pixels (e.g. 12,16,24,32), got {self.sizes}")
        if self.min_face < 1 or self.lr_min_face < 1:
            raise ConfigError(f"min_face and lr_min_face must be positive pixel sizes, got {self.min_face} and "
                              f"{self.lr_min_face}")
        if self.limit is not None and self.limit < 0:
            raise ConfigError(f"limit must be a positive number of pairs (or none for all), got {self.limit}")

    def replace(self, **changes: object) -> LowresSettings:
        return dataclasses.replace(self, **changes)

    @property
    def has_dsr(self) -> bool:
        return str(self.dsr).strip().lower() not in NO_DSR


@dataclass
class PairsBenchmark:
    """The pairs selected from a benchmark folder, and the images they need."""

    data: Path
    pairs: Pairs
    labels: np.ndarray
    names: list[str] = field(init=False)  # every image, for the HR pass
    b_names: list[str] = field(init=False)  # the images that are degraded

    def __post_init__(self) -> None:
        self.names = image_names(self.pairs)
        self.b_names = sorted({b for _, b in self.pairs})

    @property
    def images_dir(self) -> Path:
        return self.data / IMAGES_DIRNAME

    def total_images(self, sizes: tuple[int, ...]) -> int:
        """Images the whole run processes: every image at full resolution, then image_b once per size."""
        return len(self.names) + len(sizes) * len(self.b_names)


def load_pairs_benchmark(data: str | Path, limit: int | None = None) -> PairsBenchmark:
    """The (limited) pairs of DATA/pairs.txt, after checking that they are usable and their images exist."""
    data = Path(data)
    pairs, labels = limit_pairs(*read_pairs(data), limit)
    check_pair_counts(labels, data / PAIRS_FILENAME)
    bench = PairsBenchmark(data, pairs, labels)
    check_images_exist(data, bench.names)
    return bench


@dataclass
class LowresModels:
    """The pipelines and resolvers of a run: `hr` detects at min_face, `lr` (same embedder) at lr_min_face."""

    hr: FacePipeline
    lr: FacePipeline
    resolvers: dict[str, SuperResolver | BicubicResolver | None]  # "bicubic", "dsr" (None: no DSR)

    @property
    def embedder(self) -> Embedder:
        return self.hr.embedder


def load_models(settings: LowresSettings) -> LowresModels:
    hr = build_pipeline(settings.detector, settings.embedder, device=settings.device, min_face_size=settings.min_face)
    device = resolve_device(settings.device)
    lr = FacePipeline(create_detector(settings.detector, min_face_size=settings.lr_min_face, device=str(device)),
                      hr.embedder)
    dsr = load_resolver(settings.dsr, device=hr.embedder.device) if settings.has_dsr else None
    return LowresModels(hr, lr, {"bicubic": BicubicResolver(), "dsr": dsr})


class _Progress:
    """Counts processed images over the whole run, reports them and honours stop requests."""

    def __init__(self, total: int, callback: ProgressCallback | None, should_stop: StopCheck | None) -> None:
        self.total, self.done = total, 0
        self._callback, self._should_stop = callback, should_stop

    def check_stop(self) -> None:
        if self._should_stop is not None and self._should_stop():
            raise BenchmarkStopped(self.done)

    def advance(self, phase: str, images: int = 1) -> None:
        self.done += images
        if self._callback is not None:
            self._callback(self.done, self.total, phase)


def compute_hr_pass(pipeline: FacePipeline, bench: PairsBenchmark, progress: _Progress) -> HRPass:
    """Embedding and landmarks of each image's largest face at full resolution (None if no face)."""
    hr = HRPass({}, {})
    for i, name in enumerate(bench.names):
        progress.check_stop()
        face = largest_face(pipeline.process(read_image(bench.images_dir / name)).faces)
        hr.embeddings[name] = face.embedding if face is not None else None
        hr.landmarks[name] = face.landmarks if face is not None else None
        progress.advance("hr")
        if (i + 1) % LOG_EVERY == 0:
            logger.info("hr: %d/%d images", i + 1, len(bench.names))
    return hr


def cached_hr_pass(settings: LowresSettings, models: LowresModels, bench: PairsBenchmark,
                   progress: _Progress) -> tuple[HRPass, bool]:
    """The HR pass from the cache when it holds one for these settings, else computed (and cached)."""
    if settings.cache_dir is None:
        return compute_hr_pass(models.hr, bench, progress), False
    cache = HRPassCache(settings.cache_dir)
    key = hr_cache_key(bench.data, bench.images_dir, bench.names, bench.pairs, bench.labels,
                       settings.detector, models.embedder.identity, settings.min_face)
    hr = cache.load(key, bench.names)
    if hr is not None:
        logger.info("hr: %d images from the cache %s", len(bench.names), cache.path_for(key))
        progress.advance("hr", len(bench.names))
        return hr, True
    hr = compute_hr_pass(models.hr, bench, progress)
    cache.save(key, bench.names, hr, models.embedder.dim)
    return hr, False


def lowres_landmarks(lr_pipeline: FacePipeline, small: np.ndarray, expected: np.ndarray,
                     size: int) -> np.ndarray | None:
    """Landmarks of the detection on the degraded image nearest to where the HR face went, if close enough."""
    best, best_dist = None, MATCH_FRACTION * size
    for det in lr_pipeline.detect(small):
        dist = float(np.linalg.norm(det.landmarks - expected, axis=1).mean())
        if dist < best_dist:
            best, best_dist = det.landmarks, dist
    return best


def method_crops(models: LowresModels, small: np.ndarray, landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """The embedder's input crop of the face by every available method."""
    spec = models.embedder.spec
    crops = {}
    for method in METHODS:
        if method == "direct":
            crops[method] = align_face(small, landmarks, spec.template, spec.size)
        elif models.resolvers.get(method) is not None:
            models.lr.resolver = models.resolvers[method]
            crops[method] = models.lr.upscale_faces(small, [landmarks])[0]
    return crops


def degraded_pass(models: LowresModels, bench: PairsBenchmark, hr_landmarks: dict, size: int,
                  progress: _Progress) -> tuple[dict[str, dict], dict]:
    """Embeddings of each degraded image_b by every method, and how its landmarks were found."""
    out: dict[str, dict] = {m: {} for m in METHODS}
    counts = {"landmarks_detected": 0, "landmarks_from_hr": 0, "no_hr_face": 0, "not_downscaled": 0}
    t_start = time.perf_counter()
    for i, name in enumerate(bench.b_names):
        progress.check_stop()
        lm_hr = hr_landmarks.get(name)
        if lm_hr is None:
            counts["no_hr_face"] += 1
            vectors = {}
        else:
            vectors, detected, downscaled = embed_degraded(models, read_image(bench.images_dir / name), lm_hr, size)
            counts["landmarks_detected" if detected else "landmarks_from_hr"] += 1
            counts["not_downscaled"] += not downscaled
        for m in METHODS:
            out[m][name] = vectors.get(m)
        progress.advance(f"{size}px")
        if (i + 1) % LOG_EVERY == 0:
            logger.info("%d px: %d/%d images", size, i + 1, len(bench.b_names))
    counts["seconds"] = round(time.perf_counter() - t_start, 1)
    return out, counts


def embed_degraded(models: LowresModels, image: np.ndarray, lm_hr: np.ndarray,
                   size: int) -> tuple[dict[str, np.ndarray], bool, bool]:
    """The image shrunk so its face is `size` px wide, embedded by every method; whether the landmarks
    were detected on the small image (else the HR ones scaled down), and whether it was shrunk at all."""
    downscaled = face_width(lm_hr) > size
    small, expected = downscale_face(image, lm_hr, size)
    lm = lowres_landmarks(models.lr, small, expected, size)
    crops = method_crops(models, small, expected if lm is None else lm)
    vectors = dict(zip(crops, models.embedder.embed(np.stack(list(crops.values())))))
    return vectors, lm is not None, downscaled


def mixed_scores(hr: dict, degraded: dict, pairs: Pairs) -> np.ndarray:
    """Scores of (image_a at full resolution, image_b degraded)."""
    combined, renamed = {}, []
    for a, b in pairs:
        combined["hr:" + a] = hr[a]
        combined["lr:" + b] = degraded[b]
        renamed.append(("hr:" + a, "lr:" + b))
    return score_pairs(combined, renamed, "cosine")


def size_entry(models: LowresModels, bench: PairsBenchmark, hr: HRPass, hr_metrics: dict, size: int,
               progress: _Progress) -> dict:
    """The result of one face width: HR metrics (for reference), landmark counts, and every method's metrics."""
    degraded, counts = degraded_pass(models, bench, hr.landmarks, size, progress)
    entry: dict = {"hr": hr_metrics, **counts}
    for m in METHODS:
        available = m == "direct" or models.resolvers.get(m) is not None
        scores = mixed_scores(hr.embeddings, degraded[m], bench.pairs) if available else None
        entry[m] = pair_metrics(scores, bench.labels) if available else None
    logger.info("%d px done in %.0f s", size, counts["seconds"])
    return entry


def result_config(settings: LowresSettings, models: LowresModels, bench: PairsBenchmark) -> dict:
    return {
        "data": str(settings.data), "detector": settings.detector, "embedder": settings.embedder,
        "embedder_name": models.embedder.name, "dsr": settings.dsr, "min_face": settings.min_face,
        "lr_min_face": settings.lr_min_face, "pairs": len(bench.pairs), "limit": settings.limit,
        "degradation": "area downscale of image_b so its face is N px wide; image_a full resolution",
        "landmarks": "detected on the degraded image (nearest to the HR face, within "
                     f"{MATCH_FRACTION} x face width); else the HR landmarks scaled down",
        "face_width": "pixels spanned by the 112 px ArcFace template crop (~3.2 eye distances)",
    }


def machine_info() -> dict:
    return {"platform": platform.platform(), "cpus": torch.get_num_threads(), "torch": torch.__version__}


def run_benchmark(
    settings: LowresSettings,
    models: LowresModels | None = None,
    *,
    bench: PairsBenchmark | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
    on_size: Callable[[int, dict], None] | None = None,
) -> dict:
    """The whole benchmark; returns the result dict (`config`, `machine`, `hr_no_face`, `hr_seconds`,
    `hr_from_cache`, `sizes`: {"N": {"hr", "bicubic", "dsr", "direct": metrics or None, counts...}}).
    `on_size(size, entry)` is called as each size is done. Raises `BenchmarkStopped` when asked to stop."""
    bench = bench or load_pairs_benchmark(settings.data, settings.limit)
    models = models or load_models(settings)
    logger.info("%d pairs (%d same), %d images, %d degraded per size", len(bench.pairs), int(bench.labels.sum()),
                len(bench.names), len(bench.b_names))
    counter = _Progress(bench.total_images(settings.sizes), progress, should_stop)
    t0 = time.perf_counter()
    hr, from_cache = cached_hr_pass(settings, models, bench, counter)
    hr_metrics = pair_metrics(score_pairs(hr.embeddings, bench.pairs, "cosine"), bench.labels)
    result: dict = {
        "config": result_config(settings, models, bench),
        "machine": machine_info(),
        "hr_no_face": hr.no_face,
        "hr_seconds": round(time.perf_counter() - t0, 1),
        "hr_from_cache": from_cache,
        "sizes": {},
    }
    for size in settings.sizes:
        entry = size_entry(models, bench, hr, hr_metrics, size, counter)
        result["sizes"][str(size)] = entry
        if on_size is not None:
            on_size(size, entry)
    return result


def result_sizes(result: dict) -> list[int]:
    return sorted(int(s) for s in result["sizes"])


def format_table(result: dict) -> str:
    """Accuracy and TAR@FAR=1e-2 per size and method, as text."""
    lines = [f"{'size':>5s} {'method':8s} {'acc':>7s} {'TAR@1e-2':>9s}   landmarks detected / from HR"]
    for size in result_sizes(result):
        entry = result["sizes"][str(size)]
        for m in ("hr", *METHODS):
            if entry.get(m):
                extra = f"   {entry['landmarks_detected']} / {entry['landmarks_from_hr']}" if m == "bicubic" else ""
                lines.append(f"{size:5d} {m:8s} {entry[m]['accuracy']:7.4f} {entry[m]['tar_at_far_1e-2']:9.4f}{extra}")
    return "\n".join(lines)


PLOT_COLOURS = {"hr": (0, 0, 0), "bicubic": (200, 80, 0), "dsr": (0, 0, 220), "direct": (0, 150, 0)}


def draw_plot(result: dict, path: str | Path) -> Path:
    """Accuracy against face width, one line per method, drawn with OpenCV and written as PNG."""
    sizes = result_sizes(result)
    w, h, left, right, top, bottom = 720, 480, 80, 170, 50, 60
    img = np.full((h, w, 3), 255, np.uint8)
    accs = [result["sizes"][str(s)][m]["accuracy"] for s in sizes for m in ("hr", *METHODS)
            if result["sizes"][str(s)].get(m)]
    lo = max(0.0, np.floor(min(accs) * 20) / 20 - 0.05)
    hi = 1.0

    def xy(size: float, acc: float) -> tuple[int, int]:
        x = left + (size - min(sizes)) / max(1, max(sizes) - min(sizes)) * (w - left - right)
        y = top + (hi - acc) / (hi - lo) * (h - top - bottom)
        return int(round(x)), int(round(y))

    def text(s: str, at: tuple[int, int], scale: float = 0.45) -> None:
        cv2.putText(img, s, at, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)

    cv2.rectangle(img, (left, top), (w - right, h - bottom), (0, 0, 0), 1)
    for k in range(int(round((hi - lo) / 0.05)) + 1):
        acc = lo + 0.05 * k
        _, y = xy(min(sizes), acc)
        cv2.line(img, (left, y), (w - right, y), (220, 220, 220), 1)
        text(f"{acc:.2f}", (left - 50, y + 5))
    for s in sizes:
        x, _ = xy(s, lo)
        text(str(s), (x - 8, h - bottom + 20))
    text("face width (px)", (w // 2 - 90, h - 15), 0.5)
    text(f"10-fold accuracy, {result['config']['embedder_name']}", (left, 30), 0.55)
    legend_y = top + 10
    for m in ("hr", *METHODS):
        points = [xy(s, result["sizes"][str(s)][m]["accuracy"]) for s in sizes if result["sizes"][str(s)].get(m)]
        if not points:
            continue
        for p, q in zip(points, points[1:]):
            cv2.line(img, p, q, PLOT_COLOURS[m], 2, cv2.LINE_AA)
        for p in points:
            cv2.circle(img, p, 4, PLOT_COLOURS[m], -1, cv2.LINE_AA)
        cv2.line(img, (w - right + 15, legend_y), (w - right + 45, legend_y), PLOT_COLOURS[m], 2, cv2.LINE_AA)
        text(m, (w - right + 52, legend_y + 5), 0.5)
        legend_y += 24
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path
