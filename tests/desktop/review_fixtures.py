"""Helpers for the fine-tuning, model review and roll-back tests: a site whose active model is a small
random EdgeFace file with a few people enrolled, checkpoints of other such models, a stand-in trainer
that replays a fine-tuning run's events, and waiting for a background task."""

from __future__ import annotations

import sys
from pathlib import Path

from core.gallery.faces import enrolment_embeddings, model_crops
from core.vision.models.base import Embedder
from core.vision.models.loading import load_embedder
from core.vision.pipeline import FacePipeline
from desktop.context import AppContext
from tests.core.gallery_fixtures import synthetic_sample
from tests.trainer.conftest import tiny_embedder_file
from trainer.events import Epoch, Finished, RunStarted, Step, Validation, to_line

PEOPLE = ("Ada", "Ben", "Cy")
TIMEOUT = 30_000


def enrol(ctx: AppContext, embedder: Embedder, name: str, seed: int, n: int = 2) -> None:
    """A person with `n` synthetic samples, embedded by `embedder` (which must be registered)."""
    model = ctx.gallery.register_model(embedder)
    samples = [synthetic_sample(seed * 10 + i) for i in range(n)]
    vectors = enrolment_embeddings(embedder, model_crops(embedder, [(s.face, s.landmarks) for s in samples]),
                                   jitters=0)
    ctx.gallery.add_person(name, samples, vectors, model)


def small_site(ctx: AppContext, folder: Path) -> Embedder:
    """Make a small random EdgeFace (folder/base.pt) the active model with three people enrolled, and
    the engine's embedder; returns it."""
    embedder = load_embedder(tiny_embedder_file(folder / "base.pt", seed=0))
    ctx.gallery.activate_model(embedder)
    for i, name in enumerate(PEOPLE):
        enrol(ctx, embedder, name, seed=i)
    ctx.set_pipeline(FacePipeline(ctx.pipeline.detector, embedder))
    ctx.gallery_changed.emit()
    return embedder


def candidate_file(path: Path, seed: int = 1) -> Path:
    """Another small EdgeFace: what a fine-tuning run's best.pt stands for."""
    return tiny_embedder_file(path, seed=seed)


EVALUATION = {"val_images": 10, "pairs": 10, "dsr": "",
              "models": {"base": {"hr": 0.9, "12px": 0.6, "16px": 0.7, "24px": 0.8, "32px": 0.85, "source": ""},
                         "tuned": {"hr": 0.9, "12px": 0.7, "16px": 0.8, "24px": None, "32px": 0.9, "source": ""}}}


def finetune_events(run_dir: Path, best: Path | None, base: str = "dlib", status: str = "completed",
                    best_stage: int = 2) -> list:
    """A fine-tuning run as the trainer reports it (shape of a real run's events.jsonl): stage 1 for one
    epoch of 2 steps, stage 2 for two epochs, a validation after each epoch, then the final evaluation."""
    events: list = [RunStarted(job="finetune", run_dir=str(run_dir), device="cpu", amp=False, config={},
                               start_step=0, total_steps=6)]
    for epoch, stage in enumerate((1, 2, 2)):
        for step in (2 * epoch + 1, 2 * epoch + 2):
            events.append(Step(step=step, epoch=epoch, total_steps=6, lr=1e-4 if stage == 1 else 3e-6,
                               losses={"arcface": 12.0 - step, "alignment": 0.6 - 0.02 * step,
                                       "total": 12.0 - step + (0.3 * (0.6 - 0.02 * step) if stage == 2 else 0)},
                               samples_per_s=25.0, eta_s=float(6 - step), stage=stage))
        events.append(Epoch(epoch=epoch, step=2 * epoch + 2, losses={}, skipped_batches=0, stage=stage))
        events.append(Validation(step=2 * epoch + 2, epoch=epoch, stage=stage, best_metric="similarity",
                                 best_value=0.3 + 0.01 * epoch, is_best=True,
                                 metrics={"loss": 11.0, "accuracy": None if epoch == 0 else 0.3,
                                          "similarity": 0.3 + 0.01 * epoch, "spread": 0.8, "verification": 0.8,
                                          "verification_hr": 1.0}))
    evaluation = {**EVALUATION, "models": {"base": {**EVALUATION["models"]["base"], "source": base},
                                           "tuned": {**EVALUATION["models"]["tuned"], "source": str(best)}}}
    summary = {"best_similarity": 0.32, "best_stage": best_stage, "metrics": {"similarity": 0.32, "verification": 0.8},
               "last": str(run_dir / "last.pt"), "embedder": base, "evaluation": evaluation}
    if best is not None:
        summary["best"] = str(best)
    events.append(Finished(status=status, step=6, elapsed_s=12.0, summary=summary))
    return events


def replay_command(events: list) -> list[str]:
    """A stand-in trainer: a child process that prints these events and exits 0."""
    return [sys.executable, "-c", "\n".join(f"print({to_line(e)!r})" for e in events)]


def wait_task(qtbot, task, timeout: int = TIMEOUT) -> None:
    """Until the background task ended and its queued signals (result, finished) arrived."""
    qtbot.waitUntil(lambda: task.settled, timeout=timeout)
