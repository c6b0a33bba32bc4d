"""eval-lowres: how much a DSR checkpoint restores degraded faces, against bicubic upscaling.

Every face in the data folder is degraded once (seeded, as in training's
validation), upscaled by the DSR model and by bicubic interpolation, and
compared with its 112 px aligned crop: PSNR, SSIM and identity similarity
(cosine of the embedder's embeddings). One `validation` event carries the
metrics; `finished` repeats them in its summary.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from core.models.loading import load_embedder, load_super_resolver
from trainer.config import EvalLowresConfig
from trainer.events import Finished, RunStarted, Validation
from trainer.faces import EmbedderInput, list_subjects, load_faces, make_batch, psnr, ssim
from trainer.runner import Run, TrainerError, resolve_device, seed_everything

logger = logging.getLogger("trainer.eval_lowres")
EVAL_STREAM = 7_919  # the stream train-dsr's validation uses: same seed, same degraded faces


@torch.no_grad()
def run(cfg: EvalLowresConfig, run: Run) -> int:
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
            return 3
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
    return 0
