"""finetune: an embedder (EdgeFace family or the dlib ResNet) fine-tuned so that super-resolved small faces
embed like the sharp ones, in two stages, with an ArcFace head over the training subjects.

Read top to bottom: data, models, optimiser, (resume), the loop, the final evaluation. best.pt is chosen
by SR-HR similarity, guarded against collapse and against losing full-resolution accuracy.

Recipe: docs/TRAINER.md#finetune; events and config: docs/TRAINER_EVENTS.md
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.vision.degrade import Degradation, degrade_face
from core.vision.models.loading import load_embedder, load_super_resolver
from core.vision.pipeline import resolve_device
from trainer.arcface import ArcFaceHead
from trainer.config import BuildDatasetConfig, FinetuneConfig
from trainer.events import Epoch, Finished, RunStarted, Step, Validation
from trainer.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_STOPPED
from trainer.faces import (
    ARCFACE_TEMPLATE, HR_SIZE, LR_SIZE, EmbedderInput, Face, FaceFinder, batch_at, make_batch, manifest_entries,
    manifest_faces, to_tensor,
)
from trainer.prep import Preparation
from trainer.jobs.build_dataset import build_manifest
from trainer.manifest import is_manifest, load_manifest
from trainer.runner import (
    EVALUATION_FILENAME, BatchTally, Run, Throughput, TrainerError, optimizer_step, seed_everything,
)
from trainer.validation import VAL_STREAM, verification_accuracy, verification_pairs

logger = logging.getLogger("trainer.finetune")

BEST_METRIC = "similarity"
BatchHook = Callable[[int, torch.Tensor], torch.Tensor]  # (step, LR batch) -> LR batch; tests poison batches
StepHook = Callable[[int, int], None]  # (step, stage) after each batch; tests look at the parameters


def load_data(cfg: FinetuneConfig, run: Run | None = None) -> tuple[list[Face], list[Face], int, str]:
    """(training faces, validation faces, images without a usable face, split kind) from a manifest, or
    from a folder or a gallery split here exactly as build-dataset would (80/20 of each person's images).
    With `run`, progress comes as `prepare` events and a stop request ends the preparation."""
    images_progress = run.prepare_progress("images") if run is not None else None
    if is_manifest(cfg.data):
        manifest, no_face = load_manifest(cfg.data), 0
    else:
        manifest = build_manifest(BuildDatasetConfig(data=cfg.data, split="images", val_fraction=cfg.val_fraction,
                                                     min_images=cfg.min_images, seed=cfg.seed),
                                  images_progress)
        no_face = manifest.no_face
    finder = FaceFinder(device="cpu")
    prep = Preparation(run.prepare_progress("faces"), run.prep_cache_path) if run is not None else None
    if prep is not None:
        prep.total = len(manifest_entries(manifest, "train")) + len(manifest_entries(manifest, "val",
                                                                                     cfg.max_val_images))
    train, skipped_train = manifest_faces(manifest, "train", finder, prep=prep)
    val, skipped_val = manifest_faces(manifest, "val", finder, limit=cfg.max_val_images, prep=prep)
    if prep is not None:
        prep.save()
    return train, val, no_face + skipped_train + skipped_val, manifest.split


def spread(embeddings: torch.Tensor) -> float:
    """1 - |mean of unit embeddings|^2: the total variance of the embeddings, 0 when all are one point."""
    return float(1.0 - embeddings.mean(0).norm() ** 2)


def benchmark_degradation(size: int) -> Degradation:
    """The low-res benchmark's degradation: downscaling to exactly `size` px, nothing else."""
    return Degradation(face_px=(float(size), float(size)), blur_prob=0.0, noise_prob=0.0, jpeg_prob=0.0, jitter_px=0.0,
                       shift_px=0.0)


def lr_at(step: int, stage1_steps: int, total_steps: int, cfg: FinetuneConfig) -> tuple[float, float]:
    """(backbone lr, head lr) at `step`: stage 1 constant head_lr (backbone 0); stage 2 cosine decay from
    (backbone_lr, head_lr_stage2) to min_lr_ratio of them."""
    if step < stage1_steps:
        return 0.0, cfg.head_lr
    span = max(1, total_steps - stage1_steps)
    progress = min(1.0, (step - stage1_steps) / span)
    factor = cfg.min_lr_ratio + 0.5 * (1.0 - cfg.min_lr_ratio) * (1.0 + math.cos(math.pi * progress))
    return cfg.backbone_lr * factor, cfg.head_lr_stage2 * factor


def run(cfg: FinetuneConfig, run: Run, batch_hook: BatchHook | None = None, step_hook: StepHook | None = None) -> int:
    """Train; returns the process exit code (0 done, 1 failed, 3 stopped on request)."""
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    amp = device.type == "cuda"

    # ---- data: per-subject split (same people both sides), labels over the training subjects
    train_faces, val_faces, skipped, split = load_data(cfg, run)
    if skipped:
        run.warn(f"{skipped} image(s) had no usable face and were skipped")
    classes = sorted({f.subject for f in train_faces})
    if len(classes) < 2 or not val_faces:
        raise TrainerError(f"not enough data in {cfg.data}: {len(classes)} training subject(s), {len(val_faces)} "
                           f"validation faces. Fine-tuning needs at least 2 people with {cfg.min_images}+ images.")
    label_of = {name: i for i, name in enumerate(classes)}
    seen_val = sum(f.subject in label_of for f in val_faces)
    if split != "images" or seen_val == 0:
        run.warn("the validation faces belong to people not trained on: classification accuracy cannot be "
                 "measured (the SR-HR similarity still chooses the best checkpoint). Build the dataset with "
                 "split: images for a meaningful accuracy.")
    (run.dir / "split.json").write_text(json.dumps({"split": split, "classes": classes, "train_images": len(train_faces),
                                                    "val_images": len(val_faces)}, indent=1), encoding="utf-8")
    logger.info("%d training faces of %d people, %d validation faces (%d of trained people)",
                len(train_faces), len(classes), len(val_faces), seen_val)
    batch_size = min(cfg.batch_size, len(train_faces))
    steps_per_epoch = len(train_faces) // batch_size
    stage1_steps = cfg.stage1_epochs * steps_per_epoch
    total_steps = (cfg.stage1_epochs + cfg.stage2_epochs) * steps_per_epoch
    if cfg.max_steps:
        total_steps = min(total_steps, cfg.max_steps)

    # ---- models: the embedder being tuned, its ArcFace head, the frozen DSR making the SR inputs
    run.check_stop("models")
    embedder = load_embedder(cfg.embedder, device=device)
    model = embedder.model.to(device)
    prepare = EmbedderInput(embedder.spec).to(device)
    head = ArcFaceHead(embedder.dim, len(classes), cfg.arcface_scale, cfg.arcface_margin).to(device)
    dsr = load_super_resolver(cfg.dsr).to(device).eval().requires_grad_(False) if cfg.dsr.strip() else None
    optimizer = torch.optim.AdamW([{"params": list(model.parameters()), "name": "backbone"},
                                   {"params": list(head.parameters()), "name": "head"}],
                                  lr=cfg.head_lr, weight_decay=cfg.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    def autocast() -> contextlib.AbstractContextManager:
        return torch.autocast("cuda", dtype=torch.float16) if amp else contextlib.nullcontext()

    @torch.no_grad()
    def upscale(lr: torch.Tensor) -> torch.Tensor:
        if dsr is None:
            return F.interpolate(lr, size=(HR_SIZE, HR_SIZE), mode="bicubic", align_corners=False).clamp(-1, 1)
        with autocast():
            return dsr(lr).float().clamp(-1, 1)

    def embed(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        with autocast():
            return net(prepare(x)).float()

    def labels_of(faces: list[Face]) -> torch.Tensor:
        return torch.tensor([label_of.get(f.subject, -1) for f in faces], dtype=torch.long)

    def compute_losses(emb_sr: torch.Tensor, emb_hr: torch.Tensor, labels: torch.Tensor,
                       weights: dict[str, float]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The named losses, their weighted `total`, and the head's cosines (faces of unseen people are
        left out of arcface)."""
        known = labels >= 0
        arcface, cos = head(emb_sr[known], labels[known]) if known.any() else (emb_sr.sum() * 0.0, None)
        losses = {"arcface": arcface,
                  "alignment": 1.0 - F.cosine_similarity(emb_sr, emb_hr.detach(), dim=1).mean()}
        losses["total"] = sum(weights[k] * v for k, v in losses.items() if weights[k] > 0)
        return losses, cos

    # ---- validation: fixed degraded faces, SR inputs made once (the DSR is frozen)
    run.check_stop("references")
    val_rngs = [np.random.default_rng([cfg.seed, VAL_STREAM, i]) for i in range(len(val_faces))]
    degradation = cfg.degradation()
    val_lr, val_hr = make_batch(val_faces, val_rngs, degradation=degradation)
    val_sr = torch.cat([upscale(val_lr[i:i + batch_size].to(device)).cpu() for i in range(0, len(val_lr), batch_size)])
    val_labels = labels_of(val_faces)
    val_pairs, val_pair_labels = verification_pairs([f.subject for f in val_faces], cfg.seed)

    @torch.no_grad()
    def embed_all(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(torch.cat([embed(net, x[i:i + batch_size].to(device)).cpu()
                                      for i in range(0, len(x), batch_size)]), dim=1)

    @torch.no_grad()
    def validate(stage: int) -> dict[str, float | None]:
        model.eval()
        emb_sr, emb_hr = embed_all(model, val_sr), embed_all(model, val_hr)
        model.train()
        losses, cos = compute_losses(emb_sr.to(device), emb_hr.to(device), val_labels.to(device),
                                     cfg.loss_weights(stage))
        known = val_labels >= 0
        accuracy = (float((cos.argmax(1).cpu() == val_labels[known]).float().mean()) if cos is not None else None)
        return {"loss": float(losses["total"]), "accuracy": accuracy,
                "similarity": float((emb_sr * emb_hr).sum(1).mean()),
                "spread": spread(emb_hr),
                "verification": verification_accuracy(emb_hr, emb_sr, val_pairs, val_pair_labels),
                "verification_hr": verification_accuracy(emb_hr, emb_hr, val_pairs, val_pair_labels)}

    # the untuned model's spread and full-resolution verification: what collapse and the HR guard compare with
    run.check_stop("references")
    base_hr = embed_all(model, val_hr)
    base_spread = spread(base_hr)
    base_verification_hr = verification_accuracy(base_hr, base_hr, val_pairs, val_pair_labels)

    # ---- resume: model, head, optimiser, scaler, counters and RNG exactly as they were saved
    step, best_value, bad_validations = 0, -math.inf, 0
    tally = BatchTally()
    best_stage = None  # the stage best.pt comes from (1: the backbone is still the untuned one)
    if run.resume and run.has_checkpoint():  # else it stopped while preparing: step 0
        step, state = run.restore(model, optimizer, scaler)
        head.load_state_dict(state["head"])
        best_value, best_stage = float(state["best_value"]), state.get("best_stage")
        bad_validations, tally = int(state["bad_validations"]), BatchTally.from_state(state)
    run.emit(RunStarted(job="finetune", run_dir=str(run.dir), device=str(device), amp=amp, config=cfg.to_dict(),
                        start_step=step, total_steps=total_steps, resumed=run.resume))

    def job_state() -> dict:
        return {"head": head.state_dict(), "classes": classes, "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(), "torch_rng": torch.get_rng_state(), "best_value": best_value,
                "best_stage": best_stage, "bad_validations": bad_validations, "total_steps": total_steps,
                **tally.state()}

    def finish(status: str, metrics: dict, code: int, evaluation: dict | None = None) -> int:
        summary = {"best_" + BEST_METRIC: best_value if best_value > -math.inf else None, "best_stage": best_stage,
                   "metrics": metrics,
                   "last": str(run.last_path) if run.last_path.exists() else None,
                   "best": str(run.best_path) if run.best_path.exists() else None,
                   "embedder": cfg.embedder, "evaluation": evaluation}
        run.emit(Finished(status=status, step=step, elapsed_s=round(run.elapsed(), 3), summary=summary))
        return code

    # ---- the loop: one batch per step; stage 1 then stage 2
    model.train()
    meter = Throughput(step)
    metrics: dict = {}
    status = "completed"
    stage = 0
    while step < total_steps:
        if run.stop.is_set():
            status = "stopped"
            break
        if run.time_up():
            status = "time_limit"
            break
        if stage != (1 if step < stage1_steps else 2):
            stage = 1 if step < stage1_steps else 2
            model.requires_grad_(stage == 2)
            logger.info("stage %d: %s", stage, "head only, backbone frozen" if stage == 1 else "whole model")
        weights = cfg.loss_weights(stage)
        epoch, picked, rngs = batch_at(train_faces, step, steps_per_epoch, batch_size, cfg.seed)
        lr_batch, hr_batch = make_batch(picked, rngs, cfg.flip_prob, degradation)
        if batch_hook is not None:
            lr_batch = batch_hook(step + 1, lr_batch)
        sr_batch, hr_batch, labels = upscale(lr_batch.to(device)), hr_batch.to(device), labels_of(picked).to(device)
        backbone_lr, head_lr = lr_at(step, stage1_steps, total_steps, cfg)
        optimizer.param_groups[0]["lr"], optimizer.param_groups[1]["lr"] = backbone_lr, head_lr

        with torch.no_grad():
            emb_hr = embed(model, hr_batch)
        with contextlib.nullcontext() if stage == 2 else torch.no_grad():
            emb_sr = embed(model, sr_batch)  # stage 1: the frozen backbone needs no graph
        losses, _ = compute_losses(emb_sr, emb_hr, labels, weights)
        trained = [p for p in (*model.parameters(), *head.parameters()) if p.requires_grad]
        finite = optimizer_step(losses["total"], trained, optimizer, scaler, cfg.grad_clip, amp)
        step += 1
        meter.add(len(picked))
        values = {k: float(v.detach()) for k, v in losses.items()}
        if step_hook is not None:
            step_hook(step, stage)

        if not finite:
            optimizer.zero_grad(set_to_none=True)
            if run.nonfinite_batch(tally.skipped(), cfg.max_nonfinite, step, values, "Lower the learning rates or grad_clip"):
                return finish("failed", metrics, EXIT_FAILED)
        else:
            tally.good(values)

        if finite and (step % cfg.log_every == 0 or step == 1 or step == total_steps):
            rate, eta = meter.report(step, total_steps)
            run.emit(Step(step=step, epoch=epoch, total_steps=total_steps, losses=values, lr=head_lr,
                          samples_per_s=round(rate, 3), eta_s=round(eta, 1), stage=stage))
            logger.info("stage %d step %d/%d %s lr %.1e/%.1e", stage, step, total_steps,
                        " ".join(f"{k} {v:.4f}" for k, v in values.items()), backbone_lr, head_lr)

        if step % steps_per_epoch == 0 or step == total_steps:
            means, skipped_batches = tally.end_epoch()
            run.emit(Epoch(epoch=epoch, step=step, losses=means, skipped_batches=skipped_batches, stage=stage))
            metrics = validate(stage)
            # collapse: every face maps near one point, so SR and HR "match" trivially; never a best
            collapsed = (metrics["similarity"] > cfg.collapse_similarity
                         and metrics["spread"] < cfg.collapse_spread * base_spread)
            # the HR guard: a model that recognises sharp faces worse than the untuned one by more than
            # max_hr_drop is never the best, however well its SR and HR embeddings agree
            hr_ok = (cfg.max_hr_drop < 0 or base_verification_hr is None or metrics["verification_hr"] is None
                     or metrics["verification_hr"] >= base_verification_hr - cfg.max_hr_drop - 1e-9)
            is_best = not collapsed and hr_ok and metrics[BEST_METRIC] > best_value
            if not hr_ok and metrics[BEST_METRIC] > best_value:
                logger.info("step %d: similarity %.4f would be the best, but full-resolution verification fell to "
                            "%.4f (untuned %.4f, allowed drop %.4f): not kept as best.pt", step,
                            metrics[BEST_METRIC], metrics["verification_hr"], base_verification_hr, cfg.max_hr_drop)
            if is_best:
                best_value, best_stage, bad_validations = metrics[BEST_METRIC], stage, 0
            elif stage == 2:  # patience counts stage 2 only: a frozen backbone cannot improve the similarity
                bad_validations += 1
            run.emit(Validation(step=step, epoch=epoch, metrics=metrics, best_metric=BEST_METRIC,
                                best_value=best_value, is_best=is_best, stage=stage))
            logger.info("validation (stage %d, step %d): %s", stage, step,
                        " ".join(f"{k} {v:.4f}" for k, v in metrics.items() if v is not None))
            if is_best:
                run.save("best", model, step=step, metrics={**metrics, "stage": stage}, state=job_state())
            run.save("last", model, step=step, metrics={**metrics, "stage": stage}, state=job_state())
            if collapsed:
                kept = "best.pt is from before it" if run.best_path.exists() else "no best.pt was saved"
                run.warn(f"the embeddings collapsed at step {step}: SR-HR similarity {metrics['similarity']:.4f} "
                         f"only because the faces of different people became nearly identical (spread "
                         f"{metrics['spread']:.4f}, untuned {base_spread:.4f}); {kept}. Lower backbone_lr or the "
                         f"alignment weight.", step=step)
                status = "early_stopped"
                break
            if stage == 2 and cfg.patience and bad_validations >= cfg.patience:
                status = "early_stopped"
                break

    # ---- the end: a resumable last.pt, then best.pt against the untuned model on the val split
    if status in ("stopped", "time_limit") or not run.last_path.exists():
        run.save("last", model, step=step, metrics=metrics, state=job_state())
    evaluation = None
    if status != "stopped" and cfg.eval_sizes and run.best_path.exists():
        evaluation = final_evaluation(cfg, run, val_faces, val_pairs, val_pair_labels, upscale, embed_all, device)
    return finish(status, metrics, EXIT_STOPPED if status == "stopped" else EXIT_OK, evaluation)


def final_evaluation(cfg: FinetuneConfig, run: Run, faces: list[Face], pairs: np.ndarray, labels: np.ndarray,
                     upscale: Callable[[torch.Tensor], torch.Tensor],
                     embed_all: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor],
                     device: torch.device) -> dict:
    """Verification accuracy on the val split of the untuned model ("base") and best.pt ("tuned"): HR
    against HR ("hr") and HR against each face width in eval_sizes super-resolved ("12px", ...)."""
    base = load_embedder(cfg.embedder, device=device).model
    tuned = load_embedder(run.best_path, device=device).model
    hr = to_tensor(np.stack([_aligned_hr(f) for f in faces]))
    inputs = {"hr": hr}
    for size in cfg.eval_sizes:
        degradation = benchmark_degradation(size)
        lr = to_tensor(np.stack([degrade_face(f.image, f.landmarks, np.random.default_rng(0), LR_SIZE, degradation)
                                 for f in faces]))
        inputs[f"{size}px"] = torch.cat([upscale(lr[i:i + 64].to(device)).cpu() for i in range(0, len(lr), 64)])
    result: dict = {"val_images": len(faces), "pairs": int(len(pairs)), "dsr": cfg.dsr or "bicubic", "models": {}}
    for name, net in (("base", base), ("tuned", tuned)):
        net.eval()
        emb_hr = embed_all(net, hr)
        result["models"][name] = {key: verification_accuracy(emb_hr, embed_all(net, x), pairs, labels)
                                  for key, x in inputs.items()}
    result["models"]["tuned"]["source"] = str(run.best_path)
    result["models"]["base"]["source"] = cfg.embedder
    if cfg.benchmark.strip():
        result["benchmark"] = pairs_benchmark(cfg, run, device)
    (run.dir / EVALUATION_FILENAME).write_text(json.dumps(result, indent=1), encoding="utf-8")
    logger.info("final evaluation on the val split: %s", result["models"])
    return result


def pairs_benchmark(cfg: FinetuneConfig, run: Run, device: torch.device) -> dict | None:
    """The low-resolution pairs benchmark (`core.benchmarks.lowres`) of the untuned model and best.pt, with
    the run's DSR (bicubic without one): {"data", "models": {"base"|"tuned": {"hr", "12px", ...}}} of
    10-fold accuracies (the DSR method, else bicubic); None when the folder is not there (a warning) or
    the run was asked to stop meanwhile. Step events (phase "benchmark:base:16px" etc.) report progress."""
    from core.benchmarks.lowres import BenchmarkStopped, LowresSettings, run_benchmark
    from core.benchmarks.verification import is_pairs_benchmark

    if not is_pairs_benchmark(cfg.benchmark):
        run.warn(f"the benchmark folder {cfg.benchmark} holds no pairs.txt and images/: skipped")
        return None
    out: dict = {"data": cfg.benchmark, "models": {}}
    for name, model in (("base", cfg.embedder), ("tuned", str(run.best_path))):
        settings = LowresSettings(data=Path(cfg.benchmark), sizes=cfg.eval_sizes, detector=cfg.benchmark_detector,
                                  embedder=model, dsr=cfg.dsr or "none", device=str(device))

        def progress(done: int, total: int, phase: str, name: str = name) -> None:
            if done % 200 == 0 or done == total:
                run.emit(Step(step=done, epoch=0, total_steps=total, losses={}, lr=0.0, samples_per_s=0.0,
                              eta_s=0.0, phase=f"benchmark:{name}:{phase}"))

        try:
            result = run_benchmark(settings, progress=progress, should_stop=run.stop.is_set)
        except BenchmarkStopped:
            return None
        method = "dsr" if cfg.dsr.strip() else "bicubic"
        sizes = result["sizes"]
        first = sizes[str(cfg.eval_sizes[0])]
        out["models"][name] = {"hr": first["hr"]["accuracy"],
                               **{f"{s}px": sizes[str(s)][method]["accuracy"] for s in cfg.eval_sizes}}
        logger.info("benchmark %s, %s: %s", cfg.benchmark, name, out["models"][name])
    return out


def _aligned_hr(face: Face) -> np.ndarray:
    from core.vision.align import align_face

    return align_face(face.image, face.landmarks, ARCFACE_TEMPLATE, HR_SIZE)
