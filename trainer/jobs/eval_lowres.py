"""eval-lowres: how well low-resolution faces are recognised or restored, in one of two modes.

Pairs mode (data with pairs.txt and images/) runs `core.benchmarks.lowres`, the same code as
`python -m bench.lowres`, as a trainer job with progress events. Subject-folder mode (any other folder)
scores the DSR against bicubic: PSNR, SSIM and identity similarity.

Modes: docs/TRAINER.md#eval-lowres; events and config: docs/TRAINER_EVENTS.md
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.benchmarks.lowres import (
    METHODS, BenchmarkStopped, LowresSettings, draw_plot, load_models, load_pairs_benchmark, run_benchmark,
)
from core.vision.models.loading import load_embedder, load_super_resolver
from core.vision.pipeline import resolve_device
from core.benchmarks.verification import is_pairs_benchmark
from trainer.config import EvalLowresConfig
from trainer.events import Finished, RunStarted, Step, Validation
from trainer.exit_codes import EXIT_OK, EXIT_STOPPED
from trainer.faces import EmbedderInput, list_subjects, load_faces, make_batch, psnr, ssim
from trainer.runner import Run, TrainerError, seed_everything

logger = logging.getLogger("trainer.eval_lowres")
EVAL_STREAM = 7_919  # the stream train-dsr's validation uses: same seed, same degraded faces
RESULT_FILENAME = "lowres.json"
PLOT_FILENAME = "lowres.png"
METRIC_KEYS = ("accuracy", "tar_at_far_1e-2", "auc")


def run(cfg: EvalLowresConfig, run: Run) -> int:
    """Pairs mode when the data folder holds pairs.txt, else subject-folder mode."""
    if is_pairs_benchmark(cfg.data):
        return run_pairs(cfg, run)
    return run_subjects(cfg, run)


# --- pairs mode -------------------------------------------------------------------------------------


def lowres_settings(cfg: EvalLowresConfig) -> LowresSettings:
    return LowresSettings(
        data=Path(cfg.data), sizes=cfg.sizes, detector=cfg.detector, embedder=cfg.embedder,
        dsr=cfg.checkpoint or "none", device=str(resolve_device(cfg.device)), min_face=cfg.min_face,
        lr_min_face=cfg.lr_min_face, limit=cfg.limit or None, cache_dir=Path(cfg.cache_dir) if cfg.cache_dir else None,
    )


class StepReporter:
    """Turns the benchmark's progress callback into `step` events: every `every` images and at each phase's end."""

    def __init__(self, run: Run, every: int, total: int) -> None:
        self.run, self.every, self.total = run, every, total
        self.t0 = self.t_last = time.monotonic()
        self.done = self.reported = 0
        self.phase = ""

    def __call__(self, done: int, total: int, phase: str) -> None:
        if phase != self.phase:
            self.flush()  # the end of the previous phase
        self.done, self.total, self.phase = done, total, phase
        if done - self.reported >= self.every or done == total:
            self.flush()

    def flush(self) -> None:
        """A step event for the images done since the last one, if any."""
        if self.done <= self.reported:
            return
        now = time.monotonic()
        rate = (self.done - self.reported) / max(now - self.t_last, 1e-9)
        eta = (now - self.t0) / self.done * (self.total - self.done)
        self.run.emit(Step(step=self.done, epoch=0, total_steps=self.total, losses={}, lr=0.0,
                           samples_per_s=round(rate, 2), eta_s=round(eta, 1), phase=self.phase))
        self.reported, self.t_last = self.done, now


def size_metrics(size: int, entry: dict) -> dict:
    """One size's figures, flat: face_px, then METRIC_X for X in hr and every method that ran."""
    metrics: dict = {"face_px": size}
    for method in ("hr", *METHODS):
        if entry.get(method):
            metrics.update({f"{key}_{method}": entry[method][key] for key in METRIC_KEYS})
    return metrics


def run_pairs(cfg: EvalLowresConfig, run: Run) -> int:
    seed_everything(cfg.seed)
    settings = lowres_settings(cfg)
    bench = load_pairs_benchmark(settings.data, settings.limit)
    models = load_models(settings)
    total = bench.total_images(settings.sizes)
    run.emit(RunStarted(job="eval-lowres", run_dir=str(run.dir), device=settings.device, amp=False,
                        config=cfg.to_dict(), start_step=0, total_steps=total))
    reporter = StepReporter(run, cfg.log_every, total)
    main_method = "dsr" if settings.has_dsr else "bicubic"

    def on_size(size: int, entry: dict) -> None:
        reporter.flush()
        metrics = size_metrics(size, entry)
        best = f"accuracy_{main_method}"
        run.emit(Validation(step=reporter.done, epoch=0, metrics=metrics, best_metric=best,
                            best_value=metrics[best], is_best=False))

    try:
        result = run_benchmark(settings, models, bench=bench, progress=reporter,
                               should_stop=lambda: run.stop.is_set() or run.time_up(), on_size=on_size)
    except BenchmarkStopped as stopped:
        status = "stopped" if run.stop.is_set() else "time_limit"
        logger.info("%s after %d of %d images", status, stopped.done, total)
        run.emit(Finished(status=status, step=stopped.done, elapsed_s=round(run.elapsed(), 3), summary={}))
        return EXIT_STOPPED if status == "stopped" else EXIT_OK
    json_path, plot_path = write_result(result, run.dir)
    run.emit(Finished(status="completed", step=total, elapsed_s=round(run.elapsed(), 3),
                      summary={"result": result, "json": str(json_path), "plot": str(plot_path)}))
    return EXIT_OK


def write_result(result: dict, run_dir: Path) -> tuple[Path, Path]:
    json_path = run_dir / RESULT_FILENAME
    tmp = json_path.with_name(json_path.name + ".part")
    tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    tmp.replace(json_path)
    return json_path, draw_plot(result, run_dir / PLOT_FILENAME)


# --- subject-folder mode ----------------------------------------------------------------------------


@torch.no_grad()
def run_subjects(cfg: EvalLowresConfig, run: Run) -> int:
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    subjects = list_subjects(cfg.data)
    faces, skipped = load_faces(subjects, sorted(subjects), limit=cfg.max_images)
    if skipped:
        run.warn(f"{skipped} image(s) had no usable face and were skipped")
    if not faces:
        raise TrainerError(f"no faces found in {cfg.data}: check that its sub-folders hold face images")
    model = load_super_resolver(cfg.checkpoint).to(device).eval() if cfg.checkpoint else None
    embedder = load_embedder(cfg.embedder, device=device)
    embed_input = EmbedderInput(embedder.spec).to(device)
    run.emit(RunStarted(job="eval-lowres", run_dir=str(run.dir), device=str(device), amp=False,
                        config=cfg.to_dict(), start_step=0, total_steps=len(faces)))
    rngs = [np.random.default_rng([cfg.seed, EVAL_STREAM, i]) for i in range(len(faces))]
    sums: dict[str, float] = {}

    def add(name: str, values: torch.Tensor) -> None:
        sums[name] = sums.get(name, 0.0) + float(values.sum())

    done = 0
    for i in range(0, len(faces), cfg.batch_size):
        if run.stop.is_set():
            run.emit(Finished(status="stopped", step=done, elapsed_s=round(run.elapsed(), 3), summary={}))
            return EXIT_STOPPED
        lr, hr = make_batch(faces[i:i + cfg.batch_size], rngs[i:i + cfg.batch_size])
        lr, hr = lr.to(device), hr.to(device)
        emb_hr = embedder.model(embed_input(hr)).float()
        outputs = {"bicubic": F.interpolate(lr, size=hr.shape[-2:], mode="bicubic", align_corners=False)}
        if model is not None:
            outputs["dsr"] = model(lr).float()
        for name, sr in outputs.items():
            add(f"psnr_{name}", psnr(sr, hr))
            add(f"ssim_{name}", ssim(sr, hr))
            add(f"identity_{name}", F.cosine_similarity(embedder.model(embed_input(sr)).float(), emb_hr, dim=1))
        done += len(lr)
    metrics = {k: v / done for k, v in sums.items()}
    best = "identity_dsr" if model is not None else "identity_bicubic"
    run.emit(Validation(step=done, epoch=0, metrics=metrics, best_metric=best, best_value=metrics[best],
                        is_best=True))
    logger.info("%s", " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    run.emit(Finished(status="completed", step=done, elapsed_s=round(run.elapsed(), 3),
                      summary={"metrics": metrics, "faces": done}))
    return EXIT_OK
