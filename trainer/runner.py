"""What every job needs around its loop: the run folder, events, stop requests, checkpoints, time.

A run folder holds config.yaml (the full config), events.jsonl (every event
of every attempt, appended), last.pt (resumable: model, optimizer, step, RNG
states, best metric) and best.pt (the best validation so far). Checkpoints are
Rollcall checkpoints (`core.vision.models.checkpoint`), written atomically.

A stop is requested by SIGTERM (or SIGINT), a line "stop" on stdin, or a file
named STOP in the run folder (works wherever signals and pipes do not, e.g. a
windowed app on Windows); the job finishes its current batch (or, preparing
its data, the current image), saves last.pt when it has one and emits
`finished` with status "stopped".
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import torch

from core.errors import RollcallError
from core.vision.models.checkpoint import is_checkpoint, make_checkpoint, save_atomic
from trainer.config import CONFIG_FILENAME, JobConfig, save_config
from trainer.events import CheckpointSaved, ErrorEvent, Event, EventWriter, Prepare, WarningEvent
from trainer.exit_codes import STOP_FILENAME
from trainer.prep import Preparation

logger = logging.getLogger("trainer")

EVENTS_FILENAME = "events.jsonl"
LAST_FILENAME = "last.pt"
BEST_FILENAME = "best.pt"
EVALUATION_FILENAME = "evaluation.json"  # finetune: the tuned model against the untuned one
PREP_CACHE_FILENAME = "faces_cache.json"  # data preparation's landmarks, reused by a resume
PREP_EVENT_INTERVAL_S = 0.25  # prepare events at most this often (plus the first and the last)


class TrainerError(RollcallError):
    """A job cannot start or go on; the message says what to do."""


class StopRequested(Exception):
    """Raised inside data preparation when a stop was requested; the trainer ends with EXIT_STOPPED."""

    def __init__(self, phase: str, done: int, total: int) -> None:
        super().__init__(f"stopped while preparing {phase}: {done} of {total} done")
        self.phase, self.done, self.total = phase, done, total


class StopRequest:
    """A flag set by SIGTERM/SIGINT, by "stop" on stdin or by a stop file; loops check it between batches
    (and data preparation between images)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""
        self._previous: dict[int, Any] = {}
        self.stop_file: Path | None = None

    def set(self, reason: str = "requested") -> None:
        if not self._event.is_set():
            self.reason = reason
            logger.info("stop requested (%s): finishing the current batch, then saving", reason)
        self._event.set()

    def is_set(self) -> bool:
        if not self._event.is_set() and self.stop_file is not None and self.stop_file.exists():
            self.set(f"stop file {self.stop_file}")
        return self._event.is_set()

    def watch_file(self, path: Path) -> None:
        """Treat the appearance of `path` as a stop request (a stale one is removed now)."""
        path.unlink(missing_ok=True)
        self.stop_file = path

    def install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def restore_signal_handlers(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _on_signal(self, signum: int, _frame: object) -> None:
        if signum == signal.SIGINT and self.is_set():
            raise KeyboardInterrupt  # a second Ctrl+C: the operator does not want to wait for the save
        self.set(signal.Signals(signum).name)

    def watch_stream(self, stream: IO[str]) -> threading.Thread:
        """Read `stream` (stdin) on a daemon thread; a line "stop" sets the flag. End of input is not a stop."""

        def read() -> None:
            try:
                for line in stream:
                    if line.strip().lower() == "stop":
                        self.set("stop on stdin")
                        return
            except (OSError, ValueError):  # stdin closed under us
                return

        thread = threading.Thread(target=read, name="trainer-stdin", daemon=True)
        thread.start()
        return thread


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


class Run:
    """One attempt at a job in a run folder: events, stop flag, clock and checkpoints."""

    def __init__(
        self, run_dir: str | Path, config: JobConfig, *, stop: StopRequest | None = None,
        stream: IO[str] | None = None, resume: bool = False,
    ) -> None:
        self.dir = Path(run_dir)
        self.config = config
        self.stop = stop or StopRequest()
        self.resume = resume
        self.dir.mkdir(parents=True, exist_ok=True)
        if not resume:
            clash = [p.name for p in (self.last_path, self.best_path) if p.exists()]
            if clash:
                raise TrainerError(f"The run folder {self.dir} already holds {', '.join(clash)}. "
                                   f"Continue it with --resume {self.dir}, or choose another --out folder.")
            (self.dir / EVENTS_FILENAME).unlink(missing_ok=True)
            save_config(config, self.dir)
        self.writer = EventWriter(self.dir / EVENTS_FILENAME, stream)
        self.stop.watch_file(self.dir / STOP_FILENAME)
        self._prepared_before = resume and self.prep_cache_path.exists()
        self.started = time.monotonic()

    @property
    def config_path(self) -> Path:
        return self.dir / CONFIG_FILENAME

    @property
    def last_path(self) -> Path:
        return self.dir / LAST_FILENAME

    @property
    def best_path(self) -> Path:
        return self.dir / BEST_FILENAME

    @property
    def prep_cache_path(self) -> Path:
        return self.dir / PREP_CACHE_FILENAME

    def has_checkpoint(self) -> bool:
        """Whether a resume restores last.pt: yes, unless the run stopped while preparing its data (no
        last.pt yet, but a cache of that preparation), which a resume simply starts again from step 0."""
        return self.last_path.exists() or not self._prepared_before

    def emit(self, event: Event) -> dict:
        return self.writer.emit(event)

    def prepare_progress(self, phase: str = "faces"):
        """The callback data preparation calls after each image, `(done, total, cached)`: `prepare` events
        (throttled) and the stop check, which raises StopRequested."""
        last = [-math.inf]

        def progress(done: int, total: int, cached: int = 0) -> None:
            now = time.monotonic()
            if done <= 1 or done >= total or now - last[0] >= PREP_EVENT_INTERVAL_S:
                last[0] = now
                self.emit(Prepare(phase=phase, done=done, total=total, cached=cached))
            self.check_stop(phase, done, total)

        return progress

    def check_stop(self, phase: str, done: int = 0, total: int = 0) -> None:
        """Before the first step (data, models, reference metrics): StopRequested when a stop was asked
        for. The preparation cache is left behind, so a resume starts again at step 0 without a last.pt."""
        if self.stop.is_set():
            Preparation(cache_path=self.prep_cache_path).save()
            raise StopRequested(phase, done, total)

    def warn(self, message: str, step: int | None = None) -> None:
        logger.warning(message)
        self.emit(WarningEvent(message=message, step=step))

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def time_up(self) -> bool:
        limit = self.config.max_minutes
        return limit > 0 and self.elapsed() >= limit * 60.0

    def save(self, tag: str, model: torch.nn.Module, *, step: int, metrics: dict, state: dict | None = None) -> Path:
        """Write last.pt or best.pt atomically; `state` (optimizer, RNG, counters) makes it resumable."""
        path = self.last_path if tag == "last" else self.best_path
        ckpt = make_checkpoint(model, config=self.config.to_dict(), step=step, metrics=metrics,
                               extra={"job_state": state or {}, "tag": tag})
        save_atomic(ckpt, path)
        logger.info("saved %s (step %d)", path, step)
        self.emit(CheckpointSaved(step=step, path=str(path), tag=tag))
        return path

    def load_last(self) -> dict:
        """The resumable checkpoint of this run folder."""
        path = self.last_path
        if not path.is_file():
            raise TrainerError(f"Cannot resume {self.dir}: it has no {LAST_FILENAME} (the run never saved one). "
                               f"Start a new run instead.")
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch raises many types on a damaged file
            raise TrainerError(f"Cannot resume from {path}: the file cannot be read ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:160] if str(exc) else ''}). "
                               f"Start a new run instead.") from None
        if not is_checkpoint(ckpt) or not isinstance(ckpt.get("extra", {}).get("job_state"), dict):
            raise TrainerError(f"Cannot resume from {path}: it is not a resumable Rollcall checkpoint.")
        return ckpt


    def nonfinite_batch(self, in_a_row: int, allowed: int, step: int, losses: dict, fix: str) -> bool:
        """Report a batch skipped for NaN/Inf: a warning while at most `allowed` came in a row, else an
        error event (saying `fix`); True when the run must stop."""
        if in_a_row > allowed:
            message = (f"training diverged: {in_a_row} batches in a row gave NaN/Inf losses or gradients "
                       f"(last losses {losses}). {fix}, check the data, and start a new run (or resume from the "
                       f"last good checkpoint).")
            logger.error(message)
            self.emit(ErrorEvent(message=message, error_type="nonfinite_loss", step=step))
            return True
        self.warn(f"step {step}: NaN/Inf loss or gradient, batch skipped ({losses})", step=step)
        return False

    def restore(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                scaler: torch.amp.GradScaler) -> tuple[int, dict]:
        """Load last.pt into the model, optimiser, scaler and torch RNG (a model of another architecture is
        refused); returns (step, job_state) for the job's own counters."""
        ckpt = self.load_last()
        state = ckpt["extra"]["job_state"]
        if ckpt.get("arch") != model.arch or ckpt.get("arch_args") != model.arch_args():
            raise TrainerError(f"{self.last_path} holds a {ckpt.get('arch')} {ckpt.get('arch_args')} model but the "
                               f"config asks for {model.arch} {model.arch_args()}: start a new run instead")
        model.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        logger.info("resuming %s at step %d", self.dir, int(ckpt["step"]))
        return int(ckpt["step"]), state


def optimizer_step(total: torch.Tensor, params: list[torch.nn.Parameter], optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler, grad_clip: float, amp: bool) -> bool:
    """Backward pass, gradient clipping at `grad_clip` (0: none) and the optimiser step, unless the loss or
    (without AMP) the gradient is NaN/Inf; returns whether the batch counted. With AMP an overflowing
    gradient is the scaler's business: it skips the step and lowers its scale."""
    if not bool(torch.isfinite(total)):
        return False
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(total).backward()
    scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(params, grad_clip or math.inf)
    if not (amp or bool(torch.isfinite(grad_norm))):
        return False
    scaler.step(optimizer)
    scaler.update()
    return True


@dataclass
class BatchTally:
    """What a training loop counts about its batches: the current epoch's loss sums over good batches and
    its skipped ones, and the NaN/Inf batches in a row. Saved in last.pt's job state under these names."""

    epoch_sums: dict[str, float] = field(default_factory=dict)
    epoch_good: int = 0
    epoch_skipped: int = 0
    nonfinite_run: int = 0

    def good(self, losses: dict[str, float]) -> None:
        self.nonfinite_run = 0
        self.epoch_good += 1
        for k, v in losses.items():
            self.epoch_sums[k] = self.epoch_sums.get(k, 0.0) + v

    def skipped(self) -> int:
        """Count a skipped batch; returns how many came in a row."""
        self.nonfinite_run += 1
        self.epoch_skipped += 1
        return self.nonfinite_run

    def end_epoch(self) -> tuple[dict[str, float], int]:
        """(mean of each loss over the epoch's good batches, batches skipped), and a fresh epoch."""
        means = {k: v / max(self.epoch_good, 1) for k, v in self.epoch_sums.items()}
        skipped = self.epoch_skipped
        self.epoch_sums, self.epoch_good, self.epoch_skipped = {}, 0, 0
        return means, skipped

    def state(self) -> dict:
        return {"epoch_sums": dict(self.epoch_sums), "epoch_good": self.epoch_good,
                "epoch_skipped": self.epoch_skipped, "nonfinite_run": self.nonfinite_run}

    @classmethod
    def from_state(cls, state: dict) -> BatchTally:
        return cls(dict(state["epoch_sums"]), int(state["epoch_good"]), int(state["epoch_skipped"]),
                   int(state["nonfinite_run"]))


class Throughput:
    """Samples per second over the last report interval, and the ETA at the run's average speed."""

    def __init__(self, start_step: int) -> None:
        self.start_step = start_step
        self.t0 = self.t_last = time.monotonic()
        self.samples = 0

    def add(self, samples: int) -> None:
        self.samples += samples

    def report(self, step: int, total_steps: int) -> tuple[float, float]:
        now = time.monotonic()
        rate = self.samples / max(now - self.t_last, 1e-9)
        self.samples, self.t_last = 0, now
        done = step - self.start_step
        per_step = (now - self.t0) / done if done > 0 else math.nan
        eta = per_step * max(total_steps - step, 0)
        return rate, (eta if math.isfinite(eta) else 0.0)


def setup_logging(level: int = logging.INFO) -> None:
    """Human logs on stderr only: stdout carries the JSON events."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
