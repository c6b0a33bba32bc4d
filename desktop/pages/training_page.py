"""The Training tab: start a run of the trainer (a child process), follow its event stream (losses,
validation metrics, learning rate, progress with ETA), cancel it, resume it, and read the result.

Jobs: `train-dsr` and `finetune` (reviewed in `desktop.model_review`). Only the trainer's JSON-line
events drive the page; its sections are in `desktop.pages.training`.

Details: docs/DESKTOP.md#training-and-adopting-a-fine-tuned-model and #test-hooks
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QPlainTextEdit, QScrollArea, QSplitter, QVBoxLayout, QWidget

from core.errors import ConfigError, RollcallError
from core.service.settings import DEFAULT_SR_BELOW_PX
from trainer.exit_codes import EXIT_MEANINGS, EXIT_OK, EXIT_STOPPED
from desktop.context import AppContext
from desktop.model_review import run_evaluation
from desktop.pages.training.charts import TrainingCharts
from desktop.pages.training.controls import RunControls
from desktop.pages.training.form import JobForm
from desktop.pages.training.result import NO_RUN_TEXT, STATE_TEXT, ResultBox, format_eta, state_text, summary_text
from desktop.trainer_process import (
    DSR_JOB,
    FINETUNE_JOB,
    TrainerProcess,
    job_command,
    write_job_config,
)
from desktop.widgets.helpers import expose
from desktop.widgets.line_chart import LineChart
from trainer.events import (
    CheckpointSaved,
    Epoch,
    ErrorEvent,
    Finished,
    Prepare,
    RunStarted,
    Step,
    Validation,
    WarningEvent,
)

logger = logging.getLogger(__name__)

TITLE = "Training"
REVIEWABLE = ("completed", "early_stopped", "time_limit")  # finished fine-tuning runs whose best.pt can be promoted
REFRESH_MS = 100  # charts repaint at most 10 times a second
STDERR_TAIL = 8  # stderr lines quoted in a crash message
RESUMABLE = ("stopped", "time_limit", "early_stopped", "failed")
PREP_CACHE = "faces_cache.json"  # a run stopped while preparing its data resumes from it (no last.pt yet)
PHASE_TEXT = {"faces": "faces", "images": "images"}
STAGE_TEXT = {1: "stage 1 of 2: the ArcFace head (the model is frozen)", 2: "stage 2 of 2: the whole model"}


class TrainingPage(QWidget):
    use_model_requested = Signal(str)  # path of a finished run's best.pt
    state_changed = Signal(str)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.extra_config: dict = {}
        self.command_factory = self.job_command
        self.state = "idle"
        self.run_job = DSR_JOB  # the job of the last run started (or replayed)
        self.last_run_dir: Path | None = None
        self.last_finished: Finished | None = None
        self.events_received = 0
        self.bad_lines = 0
        self._error_reported = False
        self._stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self._stage: int | None = None
        self._running_text = ""

        self.process = TrainerProcess(self)
        self.process.event.connect(self._on_event)
        self.process.bad_line.connect(self._on_bad_line)
        self.process.log_line.connect(self._on_log_line)
        self.process.ended.connect(self._on_ended)

        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._refresh)

        self.chart_stack = TrainingCharts()
        self.job_form = JobForm(ctx)
        self.controls = RunControls()
        self.result_box = ResultBox(ctx)
        self.log_view = QPlainTextEdit(readOnly=True)
        self.log_view.setMaximumBlockCount(3000)
        self.log_view.setPlaceholderText("The trainer's log appears here.")
        expose(self, self.job_form, "job_combo", "source_combo", "data_edit", "data_row", "embedder_edit",
               "embedder_row", "epochs_spin", "base_edit", "base_row", "sr_edit", "sr_row", "bench_edit", "bench_row",
               "stage1_spin", "stage2_spin", "device_combo", "minutes_spin", "out_edit")
        expose(self, self.controls, "start_button", "cancel_button", "resume_button", "progress", "eta_label",
               "status_label")
        expose(self, self.chart_stack, "loss_chart", "psnr_chart", "identity_chart", "lr_chart", "dsr_charts",
               "ft_loss_charts", "ft_val_charts", "ft_lr_chart", "ft_charts", "all_charts")
        expose(self, self.result_box, "summary_label", "use_row", "use_button", "review")
        self.start_button.clicked.connect(self.start_training)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(self.resume)
        self.use_button.clicked.connect(self.use_model)

        layout = QVBoxLayout(self)
        form_scroll = QScrollArea()  # the form scrolls rather than push the window past a laptop's 768 px
        form_scroll.setWidget(self.job_form)
        form_scroll.setWidgetResizable(True)
        form_scroll.setFrameShape(QFrame.Shape.NoFrame)
        form_scroll.setMaximumHeight(self.job_form.sizeHint().height() + 4)
        layout.addWidget(form_scroll)
        layout.addWidget(self.controls)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.chart_stack)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.result_box)
        bottom_layout.addWidget(self.log_view)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout.addWidget(splitter, 1)
        self.job_form.job_changed.connect(self._job_changed)
        self._job_changed()
        self._set_state("idle")

    @property
    def job(self) -> str:
        """The job the form describes."""
        return self.job_form.job

    @property
    def charts(self) -> tuple[LineChart, ...]:
        """The charts of the job shown."""
        return self.chart_stack.charts_of(self.job == FINETUNE_JOB)

    def job_command(self, run_dir: Path, resume: bool, max_minutes: float | None) -> list[str]:
        """The default command factory: the trainer running the job of this run."""
        return job_command(self.run_job, run_dir, resume, max_minutes)

    def _job_changed(self) -> None:
        finetune = self.job == FINETUNE_JOB
        self.chart_stack.show_job(finetune)
        self.result_box.show_job(finetune)

    # ------------------------------------------------------------------ actions

    def form_config(self) -> dict:
        """The config the form describes (plus `extra_config`)."""
        config = self.job_form.config()
        config.update(self.extra_config)
        return config

    def start_training(self) -> bool:
        """Write the config into the output folder and start the trainer; False (with a notice) if it cannot."""
        if self.process.is_running():
            self.ctx.notifier.warning(TITLE, "A training run is already going; cancel it first.")
            return False
        config = self.form_config()
        problem = self.job_form.problem(config)
        if problem:
            self.ctx.notifier.error(TITLE, problem)
            return False
        out_text = self.out_edit.text().strip()
        if not out_text:
            self.ctx.notifier.error(TITLE, "Choose an output folder for the run.")
            return False
        run_dir = Path(out_text).expanduser()
        if (run_dir / "last.pt").exists() or (run_dir / "best.pt").exists():
            self.ctx.notifier.error(TITLE, f"The output folder {run_dir} already holds a run. Resume it, or "
                                           f"choose another output folder.")
            return False
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            write_job_config(self.job, run_dir, config)
        except ConfigError as exc:
            self.ctx.notifier.exception(TITLE, exc)
            return False
        except OSError as exc:
            self.ctx.notifier.error(TITLE, f"Cannot write the run folder {run_dir}: {exc}")
            return False
        self.chart_stack.clear_points()
        self.summary_label.setText(NO_RUN_TEXT)
        self.log_view.clear()
        self.run_job = self.job
        self._launch(run_dir, resume=False)
        return True

    def resume(self) -> bool:
        """Continue the last run from its last.pt (its own config; the form's max minutes apply)."""
        if self.process.is_running():
            return False
        run_dir = self.last_run_dir
        if run_dir is None or not self._resumable(run_dir):
            self.ctx.notifier.error(TITLE, "There is no stopped run with a saved checkpoint to resume.")
            self._update_buttons()
            return False
        self._launch(run_dir, resume=True)
        return True

    def cancel(self) -> None:
        """Ask the trainer to stop: it saves a resumable checkpoint; it is terminated after a grace period."""
        if self.process.is_running():
            self.process.stop()
            self._set_state("stopping")

    def use_model(self) -> bool:
        """Make the finished run's best.pt the DSR model for small faces (switching the route on at
        DEFAULT_SR_BELOW_PX if it was off); the models reload in the background."""
        if self.run_job != DSR_JOB:
            self.ctx.notifier.error(TITLE, "The last run fine-tuned a recognition model, not a DSR: compare its "
                                           "best.pt with the active model and promote it instead.")
            return False
        best = self._best_path()
        if best is None:
            self.ctx.notifier.error(TITLE, "No finished run with a best.pt to use.")
            return False
        below_px = self.ctx.config.sr_below_px or DEFAULT_SR_BELOW_PX
        try:
            self.ctx.update_config(sr_model=str(best), sr_below_px=below_px)
        except RollcallError as exc:
            self.ctx.notifier.exception(TITLE, exc)
            return False
        self.use_model_requested.emit(str(best))
        self.ctx.notifier.info(TITLE, f"Faces narrower than {below_px} px are now super-resolved with {best} "
                                      f"(the models are reloading). Change this in Settings > Small faces.")
        return True

    def shutdown(self) -> None:
        """Stop the trainer (it saves its checkpoint) before the app exits."""
        self._timer.stop()
        self.process.kill_now()

    # ------------------------------------------------------------------ process

    def _launch(self, run_dir: Path, resume: bool) -> None:
        self.job_form.set_job(self.run_job)
        self.last_run_dir = run_dir
        self.last_finished = None
        self.review.set_run(None, None, None)
        self._error_reported = False
        self._stderr_tail.clear()
        self.bad_lines = 0
        self._stage = None
        self.controls.starting()
        minutes = float(self.minutes_spin.value()) or None
        command = self.command_factory(run_dir, resume, minutes)
        self.log_view.appendPlainText(f"$ {' '.join(command)}")
        self._timer.start()
        self._set_state("starting")
        self.process.start(command, run_dir=run_dir)  # a failure to start arrives through `ended`
        self._update_buttons()
        if not resume:
            self.job_form.next_run_folder()  # the next run gets a new folder

    def _on_event(self, event: object) -> None:
        self.events_received += 1
        finetune = self.run_job == FINETUNE_JOB
        if isinstance(event, RunStarted):
            if event.job in (DSR_JOB, FINETUNE_JOB):
                self.run_job = event.job  # the form, charts and result show the run's job while it goes
                self.job_form.set_job(event.job)
            self.last_run_dir = Path(event.run_dir) if event.run_dir else self.last_run_dir
            self.controls.run_started(event.start_step, event.total_steps)
            self._running_text = (f"Training on {event.device}{' with mixed precision' if event.amp else ''}"
                                  f"{f', resumed at step {event.start_step}' if event.resumed else ''}: "
                                  f"{event.total_steps} steps.")
            if self.state != "stopping":
                self._set_state("running", self._running_text)
        elif isinstance(event, Prepare):
            self.controls.preparing(event.done, event.total)
            if self.state == "starting":
                cached = f" ({event.cached} from the last attempt)" if event.cached else ""
                what = PHASE_TEXT.get(event.phase, event.phase)
                self.status_label.setText(f"Preparing {what} {event.done} of {event.total}{cached}…")
        elif isinstance(event, Step):
            self.chart_stack.add_step(event, finetune)
            if finetune:
                self._follow_stage(event)
            speed = f", {event.samples_per_s:.1f} samples/s" if event.samples_per_s is not None else ""
            # shown by the next refresh: a progress bar repaints on every change, too slow for a flood of steps
            self.controls.queue_progress(event.step, event.total_steps, f"ETA {format_eta(event.eta_s)}{speed}")
        elif isinstance(event, Validation):
            self.chart_stack.add_validation(event, finetune)
            shown = ", ".join(f"{k} {v:.4g}" for k, v in event.metrics.items() if isinstance(v, (int, float)))
            self.log_view.appendPlainText(f"[validation] step {event.step}: {shown}{' (new best)' if event.is_best else ''}")
        elif isinstance(event, Epoch):
            stage = f" (stage {event.stage})" if event.stage else ""
            self.log_view.appendPlainText(f"[epoch] {event.epoch + 1}{stage} done at step {event.step}"
                                          f"{f', {event.skipped_batches} batches skipped' if event.skipped_batches else ''}")
        elif isinstance(event, CheckpointSaved):
            self.log_view.appendPlainText(f"[checkpoint] {event.tag}: {event.path}")
        elif isinstance(event, WarningEvent):
            self.log_view.appendPlainText(f"[warning] {event.message}")
            self.ctx.notifier.warning(TITLE, event.message)
        elif isinstance(event, ErrorEvent):
            self._error_reported = True
            self.ctx.notifier.error(f"{TITLE} failed", event.message)
        elif isinstance(event, Finished):
            self.last_finished = event
            self.controls.show_queued_progress()
            if event.step is not None and event.status in ("completed", "early_stopped"):
                self.controls.finished_at(event.step)
            self.summary_label.setText(summary_text(event, self.run_job))
            self._set_state(event.status if event.status in STATE_TEXT else "failed")
            if finetune:
                best = self._best_path() if event.status in REVIEWABLE else None
                self.review.set_run(self.last_run_dir, best, run_evaluation(event.summary, self.last_run_dir))

    def _follow_stage(self, event: Step) -> None:
        """Log (and say) when a fine-tuning run moves on to its next stage."""
        if event.stage and event.stage != self._stage:
            self._stage = event.stage
            self.log_view.appendPlainText(f"[stage] {STAGE_TEXT.get(event.stage, event.stage)}, from step {event.step}")
            if self.state == "running":
                self._set_state("running", f"{self._running_text} Now {STAGE_TEXT.get(event.stage, '')}.")

    def _on_bad_line(self, line: str, reason: str) -> None:
        self.bad_lines += 1
        self.log_view.appendPlainText(f"[not an event, ignored] {line[:200]} ({reason})")
        if self.bad_lines == 1:  # once per run: a broken stream must not flood the operator
            self.ctx.notifier.error(TITLE, f"The trainer wrote a line that is not a valid event ({reason}); it was "
                                           f"ignored. Further such lines are only logged.")

    def _on_log_line(self, line: str) -> None:
        self._stderr_tail.append(line)
        self.log_view.appendPlainText(line)

    def _on_ended(self, code: int, problem: str) -> None:
        self._timer.stop()
        self._refresh()
        stopped = self.process.stop_requested
        tail = "\n".join(self._stderr_tail)
        details = f"\nLast lines of its log:\n{tail}" if tail else ""
        if stopped and code not in (EXIT_OK, EXIT_STOPPED):
            # a requested stop is never an error, even when the trainer had to be terminated
            self.log_view.appendPlainText(f"[desktop] the trainer was stopped on request (exit code {code})")
        elif problem:
            self.ctx.notifier.error(TITLE, f"{problem[0].upper()}{problem[1:]}.{details}")
        elif code not in (EXIT_OK, EXIT_STOPPED) and not self._error_reported:
            meaning = EXIT_MEANINGS.get(code, "unexpected exit code")
            self.ctx.notifier.error(TITLE, f"The trainer exited with code {code} ({meaning}) without saying why."
                                           f"{details}")
        elif code == EXIT_OK and self.last_finished is None:
            self.ctx.notifier.error(TITLE, f"The trainer exited without reporting that it finished; its result is "
                                           f"unknown.{details}")
        if self.last_finished is None:
            self._set_state("stopped" if stopped else "failed")
        else:
            self._set_state(self.state)  # buttons follow the process having ended
        self.log_view.appendPlainText(f"[desktop] the trainer exited with code {code}")

    # ------------------------------------------------------------------ display

    def _refresh(self) -> None:
        self.controls.show_queued_progress()
        self.chart_stack.refresh()

    def _best_path(self) -> Path | None:
        if self.last_finished is None or self.last_finished.status not in ("completed", "early_stopped", "time_limit",
                                                                            "stopped"):
            return None
        best = self.last_finished.summary.get("best") if isinstance(self.last_finished.summary, dict) else None
        return Path(best) if isinstance(best, str) and Path(best).is_file() else None

    @staticmethod
    def _resumable(run_dir: Path) -> bool:
        """A checkpoint to continue from, or the data preparation of a run stopped before its first step."""
        return (run_dir / "last.pt").exists() or (run_dir / PREP_CACHE).exists()

    def _set_state(self, state: str, text: str = "") -> None:
        self.state = state
        if not text and state == "stopped" and not (self.last_run_dir and self._resumable(self.last_run_dir)):
            text = "Stopped before anything was saved; start it again."
        self.status_label.setText(text or state_text(self.run_job, state))
        self._update_buttons()
        self.state_changed.emit(state)

    def _update_buttons(self) -> None:
        running = self.process.is_running()
        self.start_button.setEnabled(not running)
        self.job_combo.setEnabled(not running)
        self.cancel_button.setEnabled(running and self.state != "stopping")
        status = self.last_finished.status if self.last_finished is not None else self.state
        self.resume_button.setEnabled(
            not running and self.last_run_dir is not None and status in RESUMABLE
            and self._resumable(self.last_run_dir))
        self.use_button.setEnabled(not running and self.run_job == DSR_JOB and self._best_path() is not None)
