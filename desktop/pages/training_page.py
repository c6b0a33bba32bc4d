"""The Training tab: start a train-dsr run of the trainer (a child process), follow its event stream
(losses, validation PSNR and identity similarity, learning rate, progress with ETA), cancel it, resume
it, and read the result.

The trainer is `python -m trainer train-dsr` run by `desktop.trainer_process.TrainerProcess`; only its
JSON-line events (schema in docs/TRAINER_EVENTS.md) drive this page, its stderr goes to the log view.
Every problem (a bad setting, a line that is not an event, a crash) reaches the operator through
`ctx.notifier`. Events only store numbers; the charts repaint from a ~10 Hz timer.

Test hooks: `start_training()`, `cancel()`, `resume()`, `use_model()`; `extra_config` (merged into the
written config) and `command_factory(run_dir, resume, max_minutes) -> [program, *args]` can be replaced.
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path

import torch
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.errors import ConfigError, RollcallError
from desktop.config import DEFAULT_SR_BELOW_PX
from desktop.context import AppContext
from desktop.trainer_process import (
    EXIT_MEANINGS,
    EXIT_OK,
    EXIT_STOPPED,
    TrainerProcess,
    default_run_dir,
    train_dsr_command,
    write_dsr_config,
)
from trainer.events import (
    CheckpointSaved,
    Epoch,
    ErrorEvent,
    Finished,
    RunStarted,
    Step,
    Validation,
    WarningEvent,
)

logger = logging.getLogger(__name__)

TITLE = "Training"
SOURCE_FOLDER, SOURCE_GALLERY = "folder", "gallery"
MIN_GALLERY_PEOPLE = 3  # the split by person needs people on both sides, and validation pairs of both kinds
REFRESH_MS = 100  # charts repaint at most 10 times a second
STDERR_TAIL = 8  # stderr lines quoted in a crash message
RESUMABLE = ("stopped", "time_limit", "early_stopped", "failed")
STATE_TEXT = {
    "idle": "No training run yet.",
    "starting": "Starting the trainer…",
    "running": "Training…",
    "stopping": "Stopping: the trainer finishes the current batch and saves a checkpoint…",
    "completed": "Finished: all steps done.",
    "early_stopped": "Finished early: the identity similarity stopped improving.",
    "time_limit": "Stopped at the time limit; it can be resumed.",
    "stopped": "Stopped; it can be resumed.",
    "failed": "Failed (see the message and the log).",
}


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class TrainingPage(QWidget):
    use_model_requested = Signal(str)  # path of a finished run's best.pt
    state_changed = Signal(str)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.extra_config: dict = {}
        self.command_factory = train_dsr_command
        self.state = "idle"
        self.last_run_dir: Path | None = None
        self.last_finished: Finished | None = None
        self.events_received = 0
        self.bad_lines = 0
        self._pending_progress: tuple[int, int, str] | None = None  # (step, total, ETA text) for the next refresh
        self._error_reported = False
        self._stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self._auto_out = True

        self.process = TrainerProcess(self)
        self.process.event.connect(self._on_event)
        self.process.bad_line.connect(self._on_bad_line)
        self.process.log_line.connect(self._on_log_line)
        self.process.ended.connect(self._on_ended)

        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._refresh)

        from desktop.widgets.line_chart import LineChart

        self.loss_chart = LineChart("Losses (per step)")
        self.psnr_chart = LineChart("Validation PSNR (dB)")
        self.identity_chart = LineChart("Validation identity similarity")
        self.lr_chart = LineChart("Learning rate")
        self.charts = (self.loss_chart, self.psnr_chart, self.identity_chart, self.lr_chart)

        layout = QVBoxLayout(self)
        layout.addWidget(self._build_form())
        layout.addLayout(self._build_controls())
        splitter = QSplitter(Qt.Orientation.Vertical)
        charts = QWidget()
        grid = QGridLayout(charts)
        grid.setContentsMargins(0, 0, 0, 0)
        for i, chart in enumerate(self.charts):
            grid.addWidget(chart, i // 2, i % 2)
        splitter.addWidget(charts)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self._build_result())
        self.log_view = QPlainTextEdit(readOnly=True)
        self.log_view.setMaximumBlockCount(3000)
        self.log_view.setPlaceholderText("The trainer's log appears here.")
        bottom_layout.addWidget(self.log_view)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout.addWidget(splitter, 1)
        self._set_state("idle")

    # ------------------------------------------------------------------ layout

    def _build_form(self) -> QGroupBox:
        box = QGroupBox("New super-resolution (DSR) training run")
        form = QFormLayout(box)
        self.source_combo = QComboBox()
        self.source_combo.addItem("Photos in a folder (one sub-folder per person)", SOURCE_FOLDER)
        self.source_combo.addItem("The people enrolled in this app (their stored samples)", SOURCE_GALLERY)
        self.source_combo.currentIndexChanged.connect(self._source_changed)
        form.addRow("Train on", self.source_combo)
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("folder with one sub-folder of face images per person")
        self.data_row = self._with_button(self.data_edit, "Browse…", self._browse_data)
        form.addRow("Data folder", self.data_row)
        self.embedder_edit = QLineEdit("dlib")
        self.embedder_edit.setToolTip("The frozen identity model: 'dlib' (built in) or a weights file")
        form.addRow("Embedder", self._with_button(self.embedder_edit, "File…", self._browse_embedder))
        self.epochs_spin = QSpinBox(minimum=1, maximum=100000, value=100)
        form.addRow("Epochs", self.epochs_spin)
        self.device_combo = QComboBox()
        self.device_combo.addItem("CPU", "cpu")
        if torch.cuda.is_available():
            self.device_combo.addItem("CUDA (GPU)", "cuda")
            self.device_combo.setCurrentIndex(1)
        form.addRow("Device", self.device_combo)
        self.minutes_spin = QDoubleSpinBox(minimum=0.0, maximum=100000.0, decimals=1, value=0.0)
        self.minutes_spin.setSpecialValueText("no limit")
        self.minutes_spin.setSuffix(" min")
        self.minutes_spin.setToolTip("Stop (resumably) after this many minutes; also applies when resuming")
        form.addRow("Max minutes", self.minutes_spin)
        self.out_edit = QLineEdit(str(default_run_dir()))
        self.out_edit.textEdited.connect(self._out_edited)
        form.addRow("Output folder", self._with_button(self.out_edit, "Browse…", self._browse_out))
        return box

    def _with_button(self, edit: QLineEdit, text: str, slot) -> QWidget:
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(edit, 1)
        button = QPushButton(text)
        button.clicked.connect(slot)
        h.addWidget(button)
        return row

    def _build_controls(self) -> QVBoxLayout:
        v = QVBoxLayout()
        row = QHBoxLayout()
        self.start_button = QPushButton("Start training")
        self.start_button.clicked.connect(self.start_training)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current batch and save a checkpoint that can be resumed")
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the last run from its saved checkpoint")
        self.resume_button.clicked.connect(self.resume)
        for b in (self.start_button, self.cancel_button, self.resume_button):
            row.addWidget(b)
        row.addStretch(1)
        v.addLayout(row)
        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("step %v / %m")
        row.addWidget(self.progress, 1)
        self.eta_label = QLabel("ETA –")
        row.addWidget(self.eta_label)
        v.addLayout(row)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        v.addWidget(self.status_label)
        return v

    def _build_result(self) -> QGroupBox:
        box = QGroupBox("Result")
        v = QVBoxLayout(box)
        self.summary_label = QLabel("No finished run yet.")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        v.addWidget(self.summary_label)
        row = QHBoxLayout()
        self.use_button = QPushButton("Use this model")
        self.use_button.clicked.connect(self.use_model)
        row.addWidget(self.use_button)
        note = QLabel("Makes best.pt the super-resolution model for small faces (Settings > Small faces).")
        note.setWordWrap(True)
        row.addWidget(note, 1)
        v.addLayout(row)
        return box

    # ------------------------------------------------------------------ pickers (they only fill the fields)

    def _browse_data(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Training data folder", self.data_edit.text())
        if folder:
            self.data_edit.setText(folder)

    def _browse_embedder(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Embedder weights", "", "Model weights (*.pt *.pth *.dat);;All files (*)")
        if path:
            self.embedder_edit.setText(path)

    def _browse_out(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", str(Path(self.out_edit.text()).parent))
        if folder:
            self.out_edit.setText(folder)
            self._auto_out = False

    def _out_edited(self) -> None:
        self._auto_out = False

    def _source_changed(self) -> None:
        self.data_row.setEnabled(self.source_combo.currentData() == SOURCE_FOLDER)

    # ------------------------------------------------------------------ actions

    def form_config(self) -> dict:
        """The config the form describes (plus `extra_config`)."""
        from_gallery = self.source_combo.currentData() == SOURCE_GALLERY
        config = {
            "data": str(self.ctx.db_path) if from_gallery else self.data_edit.text().strip(),
            "embedder": self.embedder_edit.text().strip() or "dlib",
            "epochs": self.epochs_spin.value(),
            "device": self.device_combo.currentData(),
            "max_minutes": float(self.minutes_spin.value()),
        }
        config.update(self.extra_config)
        return config

    def start_training(self) -> bool:
        """Write the config into the output folder and start the trainer; False (with a notice) if it cannot."""
        if self.process.is_running():
            self.ctx.notifier.warning(TITLE, "A training run is already going; cancel it first.")
            return False
        config = self.form_config()
        data = Path(config["data"]) if config["data"] else None
        if self.source_combo.currentData() == SOURCE_GALLERY:
            enrolled = sum(1 for p in self.ctx.gallery.people() if p.n_samples > 0)
            if enrolled < MIN_GALLERY_PEOPLE:
                self.ctx.notifier.error(TITLE, f"Training on the gallery needs at least {MIN_GALLERY_PEOPLE} enrolled "
                                               f"people (some are held out to validate on); it has {enrolled}. Enrol "
                                               f"more people, or train on a folder of photos.")
                return False
        elif data is None or not data.is_dir():
            self.ctx.notifier.error(TITLE, f"The data folder '{config['data']}' does not exist. Choose the folder "
                                           f"that holds one sub-folder of face images per person.")
            return False
        embedder = config["embedder"]
        if embedder != "dlib" and not Path(embedder).is_file():
            self.ctx.notifier.error(TITLE, f"The embedder '{embedder}' is neither 'dlib' nor an existing model file.")
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
            write_dsr_config(run_dir, config)
        except ConfigError as exc:
            self.ctx.notifier.exception(TITLE, exc)
            return False
        except OSError as exc:
            self.ctx.notifier.error(TITLE, f"Cannot write the run folder {run_dir}: {exc}")
            return False
        for chart in self.charts:
            chart.clear()
        self.summary_label.setText("No finished run yet.")
        self.log_view.clear()
        self._launch(run_dir, resume=False)
        return True

    def resume(self) -> bool:
        """Continue the last run from its last.pt (its own config; the form's max minutes apply)."""
        if self.process.is_running():
            return False
        run_dir = self.last_run_dir
        if run_dir is None or not (run_dir / "last.pt").exists():
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
        self.last_run_dir = run_dir
        self.last_finished = None
        self._error_reported = False
        self._stderr_tail.clear()
        self.bad_lines = 0
        self._pending_progress = None
        self.progress.setRange(0, 0)  # busy until run_started says how many steps
        self.eta_label.setText("ETA –")
        minutes = float(self.minutes_spin.value()) or None
        command = self.command_factory(run_dir, resume, minutes)
        self.log_view.appendPlainText(f"$ {' '.join(command)}")
        self._timer.start()
        self._set_state("starting")
        self.process.start(command)  # a failure to start arrives through `ended`
        self._update_buttons()
        if self._auto_out and not resume:
            self.out_edit.setText(str(default_run_dir()))  # the next run gets a new folder

    def _on_event(self, event: object) -> None:
        self.events_received += 1
        if isinstance(event, RunStarted):
            self.last_run_dir = Path(event.run_dir) if event.run_dir else self.last_run_dir
            self.progress.setRange(0, max(1, event.total_steps))
            self.progress.setValue(min(event.start_step, max(1, event.total_steps)))
            if self.state != "stopping":
                self._set_state("running", f"Training on {event.device}{' with mixed precision' if event.amp else ''}"
                                           f"{f', resumed at step {event.start_step}' if event.resumed else ''}: "
                                           f"{event.total_steps} steps.")
        elif isinstance(event, Step):
            for name, value in event.losses.items():
                self.loss_chart.add_point(str(name), event.step, value)
            self.lr_chart.add_point("lr", event.step, event.lr)
            speed = f", {event.samples_per_s:.1f} samples/s" if event.samples_per_s is not None else ""
            # shown by the next refresh: a progress bar repaints on every change, too slow for a flood of steps
            self._pending_progress = (event.step, event.total_steps, f"ETA {format_eta(event.eta_s)}{speed}")
        elif isinstance(event, Validation):
            metrics = event.metrics
            for key, name in (("psnr", "DSR"), ("psnr_bicubic", "bicubic")):
                self.psnr_chart.add_point(name, event.step, metrics.get(key))
            for key, name in (("identity", "DSR"), ("identity_bicubic", "bicubic")):
                self.identity_chart.add_point(name, event.step, metrics.get(key))
            shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, (int, float)))
            self.log_view.appendPlainText(f"[validation] step {event.step}: {shown}{' (new best)' if event.is_best else ''}")
        elif isinstance(event, Epoch):
            self.log_view.appendPlainText(f"[epoch] {event.epoch + 1} done at step {event.step}"
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
            self._show_pending_progress()
            if event.step is not None and event.status in ("completed", "early_stopped"):
                self.progress.setValue(min(event.step, self.progress.maximum()))
            self.summary_label.setText(self._summary_text(event))
            self._set_state(event.status if event.status in STATE_TEXT else "failed")

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
        if problem:
            self.ctx.notifier.error(TITLE, f"{problem[0].upper()}{problem[1:]}.{details}")
        elif code not in (EXIT_OK, EXIT_STOPPED) and not self._error_reported:
            meaning = EXIT_MEANINGS.get(code, "unexpected exit code")
            self.ctx.notifier.error(TITLE, f"The trainer exited with code {code} ({meaning}) without saying why."
                                           f"{details}")
        elif code == EXIT_OK and self.last_finished is None:
            self.ctx.notifier.error(TITLE, f"The trainer exited without reporting that it finished; its result is "
                                           f"unknown.{details}")
        if self.last_finished is None:
            self._set_state("stopped" if stopped and code in (EXIT_STOPPED, -1) else "failed")
        else:
            self._set_state(self.state)  # buttons follow the process having ended
        self.log_view.appendPlainText(f"[desktop] the trainer exited with code {code}")

    # ------------------------------------------------------------------ display

    def _refresh(self) -> None:
        self._show_pending_progress()
        for chart in self.charts:
            chart.refresh()

    def _show_pending_progress(self) -> None:
        if self._pending_progress is None:
            return
        step, total, eta = self._pending_progress
        self._pending_progress = None
        if total > 0:
            self.progress.setMaximum(total)
        self.progress.setValue(min(step, self.progress.maximum()))
        self.eta_label.setText(eta)

    def _best_path(self) -> Path | None:
        if self.last_finished is None or self.last_finished.status not in ("completed", "early_stopped", "time_limit",
                                                                            "stopped"):
            return None
        best = self.last_finished.summary.get("best") if isinstance(self.last_finished.summary, dict) else None
        return Path(best) if isinstance(best, str) and Path(best).is_file() else None

    def _summary_text(self, event: Finished) -> str:
        lines = [f"<b>{STATE_TEXT.get(event.status, event.status)}</b> Step {event.step if event.step is not None else '–'}"
                 f", {format_eta(event.elapsed_s)} elapsed."]
        summary = event.summary if isinstance(event.summary, dict) else {}
        best = summary.get("best_identity")
        if isinstance(best, (int, float)):
            lines.append(f"Best identity similarity: {best:.4f}")
        metrics = summary.get("metrics")
        if isinstance(metrics, dict) and metrics:
            lines.append("Last validation: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                                                         if isinstance(v, (int, float))))
        for key in ("best", "last"):
            if isinstance(summary.get(key), str):
                lines.append(f"{key}.pt: {summary[key]}")
        return "<br>".join(lines)

    def _set_state(self, state: str, text: str = "") -> None:
        self.state = state
        self.status_label.setText(text or STATE_TEXT.get(state, state))
        self._update_buttons()
        self.state_changed.emit(state)

    def _update_buttons(self) -> None:
        running = self.process.is_running()
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running and self.state != "stopping")
        status = self.last_finished.status if self.last_finished is not None else self.state
        self.resume_button.setEnabled(
            not running and self.last_run_dir is not None and status in RESUMABLE
            and (self.last_run_dir / "last.pt").exists())
        self.use_button.setEnabled(not running and self._best_path() is not None)
