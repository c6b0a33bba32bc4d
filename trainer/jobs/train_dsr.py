"""train-dsr: the DSR super-resolution network, trained on degraded faces against a frozen embedder.

Read top to bottom: data, models, optimiser, (resume), the loop, the end. Losses: l1, identity and
feature matching; best.pt has the highest validation identity similarity. Every random choice derives
from (seed, step, sample), so a resumed run sees exactly the batches of an uninterrupted one.

Recipe: docs/TRAINER.md#train-dsr; events and config: docs/TRAINER_EVENTS.md
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from core.vision.models.dsr import DSRNet
from core.vision.models.base import Embedder
from core.vision.models.loading import load_embedder
from core.vision.pipeline import resolve_device
from trainer.config import DSRTrainConfig
from trainer.events import Epoch, Finished, RunStarted, Step, Validation
from trainer.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_STOPPED
from trainer.faces import EmbedderInput, FaceFinder, batch_at, load_split, make_batch, psnr, ssim, write_split
from trainer.prep import Preparation
from trainer.runner import (
    BatchTally, Run, Throughput, TrainerError, optimizer_step, seed_everything,
)
from trainer.validation import VAL_STREAM, verification_accuracy, verification_pairs

logger = logging.getLogger("trainer.train_dsr")

BEST_METRIC = "identity"

BatchHook = Callable[[int, torch.Tensor], torch.Tensor]  # (step, LR batch) -> LR batch; tests poison batches


def lr_at(step: int, cfg: DSRTrainConfig, total_steps: int) -> float:
    """Linear warm-up over warmup_steps, then cosine decay to lr * min_lr_ratio at total_steps."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, total_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.lr - floor) * (1.0 + math.cos(math.pi * progress))


class Judge:
    """A frozen embedder that scores SR crops: the network, its input warp, and its weight in the identity loss."""

    def __init__(self, name: str, weight: float, embedder: Embedder, device: torch.device) -> None:
        self.name, self.weight = name, float(weight)
        self.short = embedder.name
        self.net = embedder.model.eval().requires_grad_(False)
        self.prepare = EmbedderInput(embedder.spec).to(device)

    @classmethod
    def load(cls, name: str, weight: float, device: torch.device) -> Judge:
        return cls(name, weight, load_embedder(name, device=device), device)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.prepare(x))

    def embed_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.net.forward_features(self.prepare(x))


def load_judges(cfg: DSRTrainConfig, device: torch.device) -> list[Judge]:
    """The main embedder (weight 1) first, then `extra_embedders`."""
    return [Judge.load(name, weight, device) for name, weight in {cfg.embedder: 1.0, **cfg.extra_embedders}.items()]


def dsr_losses(sr: torch.Tensor, hr: torch.Tensor, judges: list[Judge],
               weights: dict[str, float]) -> dict[str, torch.Tensor]:
    """The named losses being minimised (weight > 0) and their weighted `total`; judges[0] is the main
    embedder (the feature-matching one)."""
    losses = {"l1": F.l1_loss(sr, hr)}
    if weights["identity"] > 0 or weights["feature"] > 0:
        identity, feature = [], None
        for judge in judges:
            with torch.no_grad():
                emb_hr, feats_hr = judge.embed_features(hr)
            emb_sr, feats_sr = judge.embed_features(sr)
            identity.append(judge.weight * (1.0 - F.cosine_similarity(emb_sr.float(), emb_hr.float(), dim=1).mean()))
            if judge is judges[0]:
                feature = torch.stack([F.mse_loss(a.float(), b.float())
                                       for a, b in zip(feats_sr, feats_hr, strict=True)]).mean()
        losses["identity"] = torch.stack(identity).sum() / sum(j.weight for j in judges)
        losses["feature"] = feature
    losses = {k: v for k, v in losses.items() if weights[k] > 0}
    losses["total"] = sum(weights[k] * v for k, v in losses.items())
    return losses


def run(cfg: DSRTrainConfig, run: Run, batch_hook: BatchHook | None = None) -> int:
    """Train; returns the process exit code (0 done, 1 failed, 3 stopped on request)."""
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    amp = device.type == "cuda"

    # ---- data: split by subject, HR faces in memory, fixed validation pairs
    prep = Preparation(run.prepare_progress("faces"), run.prep_cache_path)
    train_names, val_names, train_faces, val_faces, skipped = load_split(
        cfg.data, cfg.val_fraction, cfg.seed, cfg.max_val_images, FaceFinder(device="cpu"), prep)
    prep.save()
    write_split(run.dir / "split.json", train_names, val_names)
    if skipped:
        run.warn(f"{skipped} image(s) had no usable face and were skipped")
    if not train_faces or not val_faces:
        raise TrainerError(f"not enough faces in {cfg.data}: {len(train_faces)} for training, {len(val_faces)} for "
                           f"validation. Add images, or check that the folders hold faces.")
    logger.info("%d training faces (%d people), %d validation faces (%d people)",
                len(train_faces), len(train_names), len(val_faces), len(val_names))
    batch_size = min(cfg.batch_size, len(train_faces))
    steps_per_epoch = len(train_faces) // batch_size
    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps:
        total_steps = min(total_steps, cfg.max_steps)
    val_every = cfg.val_every or steps_per_epoch
    val_rngs = [np.random.default_rng([cfg.seed, VAL_STREAM, i]) for i in range(len(val_faces))]
    degradation = cfg.degradation()
    val_lr, val_hr = make_batch(val_faces, val_rngs, degradation=degradation)
    val_pairs, val_pair_labels = verification_pairs([f.subject for f in val_faces], cfg.seed)

    # ---- models: the DSR network being trained, the frozen embedder(s) judging it
    model = DSRNet(**cfg.dsr).to(device)
    weights = cfg.loss_weights()
    run.check_stop("models")
    judges = load_judges(cfg, device)
    primary = judges[0]
    if weights["feature"] > 0:
        try:
            with torch.no_grad():
                primary.net.forward_features(primary.prepare(val_hr[:1].to(device)))
        except NotImplementedError:
            run.warn(f"the embedder {primary.name} does not expose intermediate features: "
                     f"the feature-matching loss is off")
            weights["feature"] = 0.0
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    def autocast() -> contextlib.AbstractContextManager:
        return torch.autocast("cuda", dtype=torch.float16) if amp else contextlib.nullcontext()

    def compute_losses(sr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        return dsr_losses(sr, hr, judges, weights)

    @torch.no_grad()
    def restore_val(upscale: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
                    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Mean (PSNR, SSIM) of upscale(LR, HR) over the validation faces, and each judge's normalised
        embeddings of it."""
        quality, embeddings = [], {judge.name: [] for judge in judges}
        for i in range(0, len(val_faces), batch_size):
            lr, hr = val_lr[i:i + batch_size].to(device), val_hr[i:i + batch_size].to(device)
            out = upscale(lr, hr)
            quality.append(torch.stack([psnr(out, hr), ssim(out, hr)], dim=1).cpu())
            for judge in judges:
                embeddings[judge.name].append(judge.embed(out).float().cpu())
        return torch.cat(quality).mean(0), {k: F.normalize(torch.cat(v), dim=1) for k, v in embeddings.items()}

    def val_metrics(suffix: str, quality: torch.Tensor, emb: dict[str, torch.Tensor]) -> dict[str, float]:
        """PSNR, SSIM, identity and verification of one way of restoring the validation faces (weighted
        means over the judges, and each judge's own values when there are several)."""
        metrics = {"psnr" + suffix: float(quality[0]), "ssim" + suffix: float(quality[1])}
        total_weight = sum(j.weight for j in judges)
        per_judge = {judge: {"identity": float((hr_emb[judge.name] * emb[judge.name]).sum(1).mean()),
                             "verification": verification_accuracy(hr_emb[judge.name], emb[judge.name],
                                                                   val_pairs, val_pair_labels)}
                     for judge in judges}
        for metric in ("identity", "verification"):
            values = {judge: v[metric] for judge, v in per_judge.items() if v[metric] is not None}
            if len(values) < len(judges):
                continue  # too few validation people for pairs of both kinds
            metrics[metric + suffix] = sum(j.weight * v for j, v in values.items()) / total_weight
            if len(judges) > 1:
                metrics.update({f"{metric}{suffix}:{j.short}": v for j, v in values.items()})
        return metrics

    def upscale_dsr(lr: torch.Tensor, _hr: torch.Tensor) -> torch.Tensor:
        with autocast():
            return model(lr).float()

    def validate() -> dict[str, float]:
        model.eval()
        metrics = val_metrics("", *restore_val(upscale_dsr))
        model.train()
        return {**metrics, **bicubic_metrics}

    # the references never change: HR embeddings and the bicubic baseline are computed once
    run.check_stop("references")
    hr_emb = restore_val(lambda _lr, hr: hr)[1]
    run.check_stop("references")
    bicubic_metrics = val_metrics("_bicubic", *restore_val(
        lambda lr, hr: F.interpolate(lr, size=hr.shape[-2:], mode="bicubic", align_corners=False)))

    # ---- resume: model, optimiser, scaler, counters and RNG exactly as they were saved
    step, best_value, bad_validations = 0, -math.inf, 0
    tally = BatchTally()
    if run.resume and run.has_checkpoint():  # else it stopped while preparing: step 0, faces cached
        step, state = run.restore(model, optimizer, scaler)
        best_value = float(state["best_value"])
        bad_validations, tally = int(state["bad_validations"]), BatchTally.from_state(state)
    run.emit(RunStarted(job="train-dsr", run_dir=str(run.dir), device=str(device), amp=amp, config=cfg.to_dict(),
                        start_step=step, total_steps=total_steps, resumed=run.resume))

    def job_state() -> dict:
        return {"optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(), "torch_rng": torch.get_rng_state(),
                "best_value": best_value, "bad_validations": bad_validations, "total_steps": total_steps,
                **tally.state()}

    def finish(status: str, metrics: dict, code: int) -> int:
        summary = {"best_" + BEST_METRIC: best_value if best_value > -math.inf else None, "metrics": metrics,
                   "last": str(run.last_path) if run.last_path.exists() else None,
                   "best": str(run.best_path) if run.best_path.exists() else None}
        run.emit(Finished(status=status, step=step, elapsed_s=round(run.elapsed(), 3), summary=summary))
        return code

    # ---- the loop: one batch per step
    model.train()
    meter = Throughput(step)
    metrics: dict[str, float] = {}
    status = "completed"
    while step < total_steps:
        if run.stop.is_set():
            status = "stopped"
            break
        if run.time_up():
            status = "time_limit"
            break
        epoch, picked, rngs = batch_at(train_faces, step, steps_per_epoch, batch_size, cfg.seed)
        lr_batch, hr_batch = make_batch(picked, rngs, cfg.flip_prob, degradation)
        if batch_hook is not None:
            lr_batch = batch_hook(step + 1, lr_batch)
        lr_batch, hr_batch = lr_batch.to(device), hr_batch.to(device)
        lr_now = lr_at(step, cfg, total_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr_now

        with autocast():
            sr = model(lr_batch)
            losses = compute_losses(sr.float(), hr_batch)
        finite = optimizer_step(losses["total"], list(model.parameters()), optimizer, scaler, cfg.grad_clip, amp)
        step += 1
        meter.add(len(picked))
        values = {k: float(v.detach()) for k, v in losses.items()}

        if not finite:
            optimizer.zero_grad(set_to_none=True)
            if run.nonfinite_batch(tally.skipped(), cfg.max_nonfinite, step, values, "Lower lr or grad_clip"):
                return finish("failed", metrics, EXIT_FAILED)
        else:
            tally.good(values)

        if finite and (step % cfg.log_every == 0 or step == 1 or step == total_steps):
            rate, eta = meter.report(step, total_steps)
            run.emit(Step(step=step, epoch=epoch, total_steps=total_steps, losses=values, lr=lr_now,
                          samples_per_s=round(rate, 3), eta_s=round(eta, 1)))
            logger.info("step %d/%d %s lr %.2e", step, total_steps,
                        " ".join(f"{k} {v:.4f}" for k, v in values.items()), lr_now)

        if step % steps_per_epoch == 0:
            means, skipped_batches = tally.end_epoch()
            run.emit(Epoch(epoch=epoch, step=step, losses=means, skipped_batches=skipped_batches))

        if step % val_every == 0 or step == total_steps:
            metrics = validate()
            is_best = metrics[BEST_METRIC] > best_value
            if is_best:
                best_value, bad_validations = metrics[BEST_METRIC], 0
            else:
                bad_validations += 1
            run.emit(Validation(step=step, epoch=epoch, metrics=metrics, best_metric=BEST_METRIC,
                                best_value=best_value, is_best=is_best))
            logger.info("validation at step %d: %s", step, " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
            if is_best:
                run.save("best", model, step=step, metrics=metrics, state=job_state())
            run.save("last", model, step=step, metrics=metrics, state=job_state())
            if cfg.patience and bad_validations >= cfg.patience:
                status = "early_stopped"
                break

    # ---- the end: a resumable last.pt whatever the reason, then the summary
    if status in ("stopped", "time_limit") or not run.last_path.exists():
        run.save("last", model, step=step, metrics=metrics, state=job_state())
    return finish(status, metrics, EXIT_STOPPED if status == "stopped" else EXIT_OK)
