"""What the trainer's event stream costs next to a training step (target: events add < 1 % to step time).

    python -m bench.trainer_events --json bench/results/trainer_events.json

Two measurements, made apart and then divided:

1. The cost of one event through the trainer's real writer. A child process (this script with
   `--child`) opens a real `trainer.runner.Run` in a temporary run folder and emits events exactly as
   train-dsr does: `Run.emit` -> `EventWriter.emit` (one JSON line on sys.stdout, flushed, and appended
   to RUN_DIR/events.jsonl, then read back with json.loads). Its stdout/stderr are (a) pipes read by
   this process, which parses every line with `trainer.events.parse_event` as the desktop dashboard
   does, and (b) /dev/null. The child runs with PYTHONUNBUFFERED=1, as `desktop.trainer_process`
   starts the trainer. Timed per event (perf_counter_ns), N events each of:
   - `step emit`: building a realistic `Step` (4 losses, lr, speed, ETA) and `Run.emit`;
   - `step report`: the whole block train-dsr runs at a logging step: `Throughput.report`, the `Step`,
     `Run.emit` and the human log line `logger.info("step ...")` on stderr. This is the figure the
     overhead is computed from;
   - `validation emit`: a `Validation` with 15 metrics, `Run.emit` and its stderr log line.
   Events are `--gap-ms` apart (default 1 ms; real ones are a step apart): back to back (0) also
   measures how fast the reader drains the pipe, which a training run never asks of it.
2. The time of a real train-dsr step with the default config (`DSRTrainConfig` defaults: DSRNet
   32/8/16, batch 16, embedder "dlib" loaded through `core.vision.models.loading.load_embedder` and
   `trainer.faces.EmbedderInput` via train-dsr's own `Judge`, losses l1 + identity + feature weighted
   1 / 0.6 / 0.18, AdamW, grad clip 1.0), on random 28x28 -> 112x112 batches: 2 warm-up steps, then
   `--steps` timed ones. Data preparation (degrading 16 faces, about a millisecond or two) is left
   out, so the step is slightly shorter than in a real run and the overhead slightly overstated.

Why not time `python -m trainer train-dsr` with log_every=1 against log_every=1000: one event costs
tens of microseconds and a CPU step about a second, so the difference sought is ~0.01 % while two
identical runs on this machine differ by several percent (the spread of the timed steps is printed
as `step spread`). An A/B of whole runs cannot resolve it; the two measurements above can.

Overhead at log_every=k = (mean `step report` cost) / k / (mean step time); the figure is also given
with the p99 cost (every logging step at its slow tail). Validation events come once per epoch
(hundreds of steps) and are negligible; their cost is printed for completeness.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.common import write_json

REPO_ROOT = Path(__file__).resolve().parent.parent
LOSS_NAMES = ("l1", "identity", "feature", "total")
VALIDATION_METRICS = (  # 15: train-dsr's with two judges (per-judge identity / verification) and extras
    "psnr", "ssim", "psnr_bicubic", "ssim_bicubic", "identity", "verification", "identity_bicubic",
    "verification_bicubic", "identity:dlib", "identity:edgeface_xs", "verification:dlib",
    "verification:edgeface_xs", "identity_bicubic:dlib", "identity_bicubic:edgeface_xs", "psnr_gain")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="events of each kind per sink")
    parser.add_argument("--gap-ms", type=float, default=1.0, help="pause between events (0: back to back)")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps (after 2 warm-ups)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="auto", help="device of the training step (the config's 'device')")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # internal: emit, write timings here
    args = parser.parse_args()
    if args.child:
        child(args.child, args.events, args.gap_ms)
        return

    import torch

    load_before = os.getloadavg()
    sinks = {}
    for sink in ("pipe", "devnull"):
        sinks[sink] = measure_sink(sink, args.events, args.gap_ms)
        print(json.dumps({"sink": sink, **sinks[sink]}))
    step = measure_steps(args.steps, args.warmup, args.device)
    print(json.dumps({"train_step": step}))
    load_after = os.getloadavg()

    overhead = {}
    for sink, res in sinks.items():
        report = res["step report"]
        for k in (1, 10):
            overhead[f"{sink}_log_every_{k}_pct"] = round(100 * report["mean_us"] / 1000 / k / step["mean_ms"], 4)
            overhead[f"{sink}_log_every_{k}_p99_pct"] = round(100 * report["p99_us"] / 1000 / k / step["mean_ms"], 4)

    print()
    print(f"{'sink':8} {'what':16} {'mean us':>9} {'p50 us':>9} {'p99 us':>9} {'max us':>9}")
    for sink, res in sinks.items():
        for what in ("step emit", "step report", "validation emit"):
            r = res[what]
            print(f"{sink:8} {what:16} {r['mean_us']:9.1f} {r['p50_us']:9.1f} {r['p99_us']:9.1f} {r['max_us']:9.1f}")
    print(f"\ntrain-dsr step (default config, batch {step['batch']}, {step['device']}): mean {step['mean_ms']:.1f} ms, "
          f"min {step['min_ms']:.1f}, max {step['max_ms']:.1f} (step spread {step['spread_pct']:.1f} %)")
    for sink in sinks:
        print(f"overhead, {sink:7}: log_every=1 {overhead[f'{sink}_log_every_1_pct']:.4f} % "
              f"(p99 {overhead[f'{sink}_log_every_1_p99_pct']:.4f} %), "
              f"log_every=10 {overhead[f'{sink}_log_every_10_pct']:.4f} % "
              f"(p99 {overhead[f'{sink}_log_every_10_p99_pct']:.4f} %)")
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f} on {os.cpu_count()} CPUs")

    if args.json:
        summary = {
            "config": {"events": args.events, "gap_ms": args.gap_ms, "steps": args.steps, "warmup": args.warmup,
                       "device": step["device"]},
            "events": sinks, "train_step": step, "overhead": overhead,
            "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                        "platform": platform.platform(), "python": platform.python_version(),
                        "torch": torch.__version__, "loadavg_before": [round(x, 2) for x in load_before],
                        "loadavg_after": [round(x, 2) for x in load_after]},
        }
        write_json(args.json, summary)


# ---------------------------------------------------------------------------------------------- events


def stats_us(ns: list[int]) -> dict:
    us = np.asarray(ns, dtype=np.float64) / 1000.0
    return {"n": int(us.size), "mean_us": round(float(us.mean()), 2), "p50_us": round(float(np.percentile(us, 50)), 2),
            "p99_us": round(float(np.percentile(us, 99)), 2), "max_us": round(float(us.max()), 2)}


def measure_sink(sink: str, n: int, gap_ms: float) -> dict:
    """Run the emitting child with stdout/stderr on `sink` ("pipe": read and parsed here; "devnull")."""
    from trainer.events import EventError, parse_event

    with tempfile.TemporaryDirectory(prefix="rollcall-bench-events-") as tmp:
        result_file = Path(tmp) / "timings.json"
        command = [sys.executable, "-m", "bench.trainer_events", "--child", str(result_file),
                   "--events", str(n), "--gap-ms", str(gap_ms)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}
        out = subprocess.PIPE if sink == "pipe" else subprocess.DEVNULL
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        counts = {"parsed": 0, "bad": 0, "stderr_lines": 0}
        if sink == "pipe":
            def drain_stderr() -> None:
                for _ in proc.stderr:
                    counts["stderr_lines"] += 1

            reader = threading.Thread(target=drain_stderr, daemon=True)
            reader.start()
            for line in proc.stdout:
                try:
                    parse_event(line)
                    counts["parsed"] += 1
                except EventError:
                    counts["bad"] += 1
            reader.join()
        code = proc.wait()
        if code != 0:
            raise SystemExit(f"the emitting child failed with exit code {code}")
        timings = json.loads(result_file.read_text())
    result = {what: stats_us(ns) for what, ns in timings["ns"].items()}
    result["events_jsonl_lines"] = timings["jsonl_lines"]
    if sink == "pipe":
        result["reader"] = counts
    return result


def child(result_file: Path, n: int, gap_ms: float) -> None:
    """Emit n events of each kind through a real Run (stdout + events.jsonl) and write the timings."""
    from trainer.config import DSRTrainConfig
    from trainer.events import RunStarted, Step, Validation
    from trainer.runner import Run, Throughput, setup_logging

    setup_logging()
    logger = logging.getLogger("trainer.train_dsr")  # the job's own logger: same format, same handler
    gap = gap_ms / 1000.0
    rng = np.random.default_rng(0)
    total_steps = 3 * n
    with tempfile.TemporaryDirectory(prefix="rollcall-bench-run-") as tmp:
        cfg = DSRTrainConfig(data=tmp)
        run = Run(Path(tmp) / "run", cfg)
        run.emit(RunStarted(job="train-dsr", run_dir=str(run.dir), device="cpu", amp=False, config=cfg.to_dict(),
                            start_step=0, total_steps=total_steps))
        meter = Throughput(0)
        timings: dict[str, list[int]] = {"step emit": [], "step report": [], "validation emit": []}
        clock = time.perf_counter_ns

        def losses() -> dict[str, float]:
            values = {k: float(v) for k, v in zip(LOSS_NAMES[:3], rng.uniform(0.01, 1.0, 3), strict=True)}
            values["total"] = values["l1"] + 0.6 * values["identity"] + 0.18 * values["feature"]
            return values

        step = 0
        for _ in range(n):  # the writer alone
            step += 1
            values, lr_now = losses(), 2e-4 * rng.uniform(0.05, 1.0)
            meter.add(16)
            t0 = clock()
            run.emit(Step(step=step, epoch=step // 84, total_steps=total_steps, losses=values, lr=lr_now,
                          samples_per_s=round(31.2 + rng.normal(), 3), eta_s=round(2150.0 - step * 0.5, 1)))
            timings["step emit"].append(clock() - t0)
            time.sleep(gap)
        for _ in range(n):  # everything train-dsr does at a logging step
            step += 1
            values, lr_now = losses(), 2e-4 * rng.uniform(0.05, 1.0)
            meter.add(16)
            t0 = clock()
            rate, eta = meter.report(step, total_steps)
            run.emit(Step(step=step, epoch=step // 84, total_steps=total_steps, losses=values, lr=lr_now,
                          samples_per_s=round(rate, 3), eta_s=round(eta, 1)))
            logger.info("step %d/%d %s lr %.2e", step, total_steps,
                        " ".join(f"{k} {v:.4f}" for k, v in values.items()), lr_now)
            timings["step report"].append(clock() - t0)
            time.sleep(gap)
        best = 0.0
        for _ in range(n):  # validations: the event and its log line (not the validation itself)
            step += 1
            metrics = {k: float(v) for k, v in zip(VALIDATION_METRICS, rng.uniform(0.0, 30.0, len(VALIDATION_METRICS)),
                                                   strict=True)}
            t0 = clock()
            is_best = metrics["identity"] > best
            best = max(best, metrics["identity"])
            run.emit(Validation(step=step, epoch=step // 84, metrics=metrics, best_metric="identity", best_value=best,
                                is_best=is_best))
            logger.info("validation at step %d: %s", step, " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
            timings["validation emit"].append(clock() - t0)
            time.sleep(gap)
        jsonl_lines = sum(1 for _ in (run.dir / "events.jsonl").open(encoding="utf-8"))
    result_file.write_text(json.dumps({"ns": timings, "jsonl_lines": jsonl_lines}))


# ---------------------------------------------------------------------------------------------- steps


def measure_steps(steps: int, warmup: int, device_name: str) -> dict:
    """Mean time of a train-dsr step with the default config on random batches (see the module docstring)."""
    import contextlib
    import math

    import torch

    from core.vision.models.dsr import DSRNet
    from trainer.config import DSRTrainConfig
    from trainer.jobs import train_dsr
    from core.vision.pipeline import resolve_device
    from trainer.runner import seed_everything

    cfg = DSRTrainConfig(data="unused", device=device_name)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    amp = device.type == "cuda"
    model = DSRNet(**cfg.dsr).to(device)
    weights = cfg.loss_weights()
    judges = train_dsr.load_judges(cfg, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    def autocast() -> contextlib.AbstractContextManager:
        return torch.autocast("cuda", dtype=torch.float16) if amp else contextlib.nullcontext()

    def compute_losses(sr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        return train_dsr.dsr_losses(sr, hr, judges, weights)

    gen = torch.Generator().manual_seed(0)
    batch = cfg.batch_size
    times = []
    model.train()
    for i in range(warmup + steps):
        lr_batch = (torch.rand(batch, 3, 28, 28, generator=gen) * 2 - 1).to(device)
        hr_batch = (torch.rand(batch, 3, 112, 112, generator=gen) * 2 - 1).to(device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with autocast():
            sr = model(lr_batch)
            losses = compute_losses(sr.float(), hr_batch)
        if bool(torch.isfinite(losses["total"])):
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(losses["total"]).backward()
            scaler.unscale_(optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or math.inf)
            if amp or bool(torch.isfinite(grad_norm)):
                scaler.step(optimizer)
                scaler.update()
        values = {k: float(v.detach()) for k, v in losses.items()}  # the host sync train-dsr does every step
        elapsed = time.perf_counter() - t0
        if i >= warmup:
            times.append(elapsed * 1000.0)
    del values
    ms = np.asarray(times)
    return {"device": str(device), "amp": amp, "batch": batch, "embedder": cfg.embedder, "dsr": dict(cfg.dsr),
            "weights": weights, "steps": steps, "warmup": warmup, "times_ms": [round(float(t), 1) for t in ms],
            "mean_ms": round(float(ms.mean()), 2), "min_ms": round(float(ms.min()), 2),
            "max_ms": round(float(ms.max()), 2),
            "spread_pct": round(float(100 * (ms.max() - ms.min()) / ms.mean()), 1)}


if __name__ == "__main__":
    main()
