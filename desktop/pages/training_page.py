"""The Training tab: start a run of the trainer (a child process), follow its event stream (losses,
validation metrics, learning rate, progress with ETA), cancel it, resume it, and read the result.

Two jobs: "Super-resolution (DSR)" (`train-dsr`: PSNR and identity similarity are charted; "Use this
model" makes best.pt the DSR for small faces) and "Recognition model fine-tuning" (`finetune`: the
ArcFace, alignment and total losses and the validation SR–HR similarity, head accuracy and
verification accuracies are charted per stage, "stage 1" (head only) and "stage 2" (whole model) being
two series of each chart; the Result box compares best.pt with the active model and promotes it,
`desktop.model_review`). Both train on a folder of subject folders, the gallery's enrolled samples, or
a build-dataset manifest (.json).

The trainer is `python -m trainer JOB` run by `desktop.trainer_process.TrainerProcess`; only its
JSON-line events (schema in docs/TRAINER_EVENTS.md) drive this page, its stderr goes to the log view.
Every problem (a bad setting, a line that is not an event, a crash) reaches the operator through
`ctx.notifier`. Events only store numbers; the charts repaint from a ~10 Hz timer.

Test hooks: `start_training()`, `cancel()`, `resume()`, `use_model()`, `review`; `extra_config` (merged
into the written config) and `command_factory(run_dir, resume, max_minutes) -> [program, *args]` can be
replaced (the default starts the job of the run).
"""

from __future__ import annotations

import dataclasses
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
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core.vision.degrade import landmark_noise
from core.errors import ConfigError, RollcallError
from core.vision.models.loading import is_default_model
from core.benchmarks.verification import is_pairs_benchmark
from desktop.config import DEFAULT_SR_BELOW_PX
from desktop.context import AppContext
from desktop.model_review import ModelReview, evaluation_keys, run_evaluation, size_label
from desktop.trainer_process import (
    DSR_JOB,
    EXIT_MEANINGS,
    EXIT_OK,
    EXIT_STOPPED,
    FINETUNE_JOB,
    TrainerProcess,
    default_run_dir,
    job_command,
    write_job_config,
)
from desktop.widgets.line_chart import LineChart
from trainer.config import FinetuneConfig
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
JOBS = ((DSR_JOB, "Super-resolution (DSR)"), (FINETUNE_JOB, "Recognition model fine-tuning"))
SOURCE_FOLDER, SOURCE_GALLERY, SOURCE_MANIFEST = "folder", "gallery", "manifest"
MIN_GALLERY_PEOPLE = 3  # the split by person needs people on both sides, and validation pairs of both kinds
MIN_FINETUNE_PEOPLE = 2  # fine-tuning splits each person's photos; ArcFace needs at least two people
REVIEWABLE = ("completed", "early_stopped", "time_limit")  # finished fine-tuning runs whose best.pt can be promoted
REFRESH_MS = 100  # charts repaint at most 10 times a second
STDERR_TAIL = 8  # stderr lines quoted in a crash message
RESUMABLE = ("stopped", "time_limit", "early_stopped", "failed")
MODEL_FILTER = "Model weights (*.pt *.pth *.dat);;All files (*)"
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
JOB_STATE_TEXT = {FINETUNE_JOB: {"early_stopped": "Finished early: the SR–HR similarity stopped improving."}}
BEST_VALUE = {DSR_JOB: ("best_identity", "Best identity similarity"),
              FINETUNE_JOB: ("best_similarity", "Best SR–HR similarity")}
FT_LOSSES = (  # loss key, chart title, tooltip
    ("arcface", "ArcFace loss / step", "ArcFace loss of the super-resolved faces over the training people"),
    ("alignment", "Alignment loss / step", "1 − cos(SR, HR): how far a small face's embedding is from the sharp "
                                           "face's (measured in stage 1, trained in stage 2)"),
    ("total", "Total loss / step", "The weighted sum that is minimised"))
FT_VALIDATION = (
    ("similarity", "Val SR–HR similarity", "Mean cos(SR, HR) on the validation faces: the best one gives best.pt"),
    ("accuracy", "Val head accuracy", "Top-1 of the ArcFace head on validation faces of people seen in training"),
    ("verification", "Val verification SR vs HR", "Same/different-person accuracy of pairs of a sharp and a "
                                                  "small (super-resolved) face"),
    ("verification_hr", "Val verification HR", "Same/different-person accuracy of pairs of sharp faces"))
FT_CHART_MIN_SIZE = (150, 130)
STAGE_TEXT = {1: "stage 1 of 2: the ArcFace head (the model is frozen)", 2: "stage 2 of 2: the whole model"}


def finetune_default(name: str) -> object:
    """A FinetuneConfig field's default (the form starts from the trainer's own recipe)."""
    return next(f.default for f in dataclasses.fields(FinetuneConfig) if f.name == name)


def evaluation_text(evaluation: dict) -> str:
    """One line of a fine-tuning run's final evaluation: verification accuracy on its validation split,
    the untuned model against best.pt, at each face width."""
    models = evaluation.get("models") if isinstance(evaluation.get("models"), dict) else {}
    base, tuned = models.get("base") or {}, models.get("tuned") or {}

    def pct(value: object) -> str:
        return f"{100 * value:.1f} %" if isinstance(value, (int, float)) else "–"

    sizes = ", ".join(f"{size_label(k)} {pct(base.get(k))} → {pct(tuned.get(k))}"
                      for k in evaluation_keys(evaluation))
    return (f"Verification on the validation split ({evaluation.get('val_images', '?')} images, "
            f"{evaluation.get('pairs', '?')} pairs), untuned → best.pt: {sizes or 'not measured'}")


def stage_series(stage: int | None) -> str:
    """The chart series of a fine-tuning stage: both stages share the charts, one series each."""
    return f"stage {stage or 1}"


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
        self.command_factory = self.job_command
        self.state = "idle"
        self.run_job = DSR_JOB  # the job of the last run started (or replayed)
        self.last_run_dir: Path | None = None
        self.last_finished: Finished | None = None
        self.events_received = 0
        self.bad_lines = 0
        self._pending_progress: tuple[int, int, str] | None = None  # (step, total, ETA text) for the next refresh
        self._error_reported = False
        self._stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self._auto_out = True
        self._auto_base = self._auto_sr = True  # the fine-tuning defaults follow the app until edited
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

        self.loss_chart = LineChart("Losses (per step)")
        self.psnr_chart = LineChart("Validation PSNR (dB)")
        self.identity_chart = LineChart("Validation identity similarity")
        self.lr_chart = LineChart("Learning rate")
        self.dsr_charts = (self.loss_chart, self.psnr_chart, self.identity_chart, self.lr_chart)
        self.ft_loss_charts = {key: LineChart(title) for key, title, _ in FT_LOSSES}
        self.ft_val_charts = {key: LineChart(title) for key, title, _ in FT_VALIDATION}
        for charts, about in ((self.ft_loss_charts, FT_LOSSES), (self.ft_val_charts, FT_VALIDATION)):
            for key, _, tip in about:
                charts[key].setToolTip(f"{tip}. Stage 1 trains the head only, stage 2 the whole model.")
        self.ft_lr_chart = LineChart("Learning rate")
        self.ft_charts = (*self.ft_loss_charts.values(), self.ft_lr_chart, *self.ft_val_charts.values())
        self.all_charts = (*self.dsr_charts, *self.ft_charts)
        self.chart_stack = QStackedWidget()
        for charts, columns in ((self.dsr_charts, 2), (self.ft_charts, 4)):
            grid_page = QWidget()
            grid = QGridLayout(grid_page)
            grid.setContentsMargins(0, 0, 0, 0)
            for i, chart in enumerate(charts):
                if columns > 2:
                    chart.setMinimumSize(*FT_CHART_MIN_SIZE)  # four a row still fit a small window
                grid.addWidget(chart, i // columns, i % columns)
            self.chart_stack.addWidget(grid_page)

        layout = QVBoxLayout(self)
        layout.addWidget(self._build_form())
        layout.addLayout(self._build_controls())
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.chart_stack)
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
        ctx.gallery_changed.connect(self._fill_defaults)
        ctx.config_changed.connect(self._fill_defaults)
        self._fill_defaults()
        self._job_changed()
        self._set_state("idle")

    @property
    def job(self) -> str:
        """The job the form describes."""
        return self.job_combo.currentData()

    @property
    def charts(self) -> tuple[LineChart, ...]:
        """The charts of the job shown."""
        return self.ft_charts if self.job == FINETUNE_JOB else self.dsr_charts

    def job_command(self, run_dir: Path, resume: bool, max_minutes: float | None) -> list[str]:
        """The default command factory: the trainer running the job of this run."""
        return job_command(self.run_job, run_dir, resume, max_minutes)

    # ------------------------------------------------------------------ layout

    def _build_form(self) -> QGroupBox:
        box = QGroupBox("New training run")
        form = self.form = QFormLayout(box)
        self.job_combo = QComboBox()
        for job, label in JOBS:
            self.job_combo.addItem(label, job)
        self.job_combo.currentIndexChanged.connect(self._job_changed)
        form.addRow("Job", self.job_combo)
        self.source_combo = QComboBox()
        self.source_combo.addItem("Photos in a folder (one sub-folder per person)", SOURCE_FOLDER)
        self.source_combo.addItem("The people enrolled in this app (their stored samples)", SOURCE_GALLERY)
        self.source_combo.addItem("A dataset manifest (.json, from the trainer's build-dataset)", SOURCE_MANIFEST)
        self.source_combo.currentIndexChanged.connect(self._source_changed)
        form.addRow("Train on", self.source_combo)
        self.data_edit = QLineEdit()
        self.data_row = self._with_button(self.data_edit, "Browse…", self._browse_data)
        form.addRow("Data", self.data_row)
        # train-dsr
        self.embedder_edit = QLineEdit("dlib")
        self.embedder_edit.setToolTip("The frozen identity model: 'dlib' (built in) or a weights file")
        self.embedder_row = self._with_button(self.embedder_edit, "File…", self._browse_embedder)
        form.addRow("Embedder", self.embedder_row)
        self.epochs_spin = QSpinBox(minimum=1, maximum=100000, value=100)
        form.addRow("Epochs", self.epochs_spin)
        # finetune
        self.base_edit = QLineEdit()
        self.base_edit.setToolTip("The recognition model to fine-tune: 'dlib' (built in) or a weights file; "
                                  "by default the gallery's active model")
        self.base_edit.textEdited.connect(lambda: setattr(self, "_auto_base", False))
        self.base_row = self._with_button(self.base_edit, "File…", self._browse_base)
        form.addRow("Model to fine-tune", self.base_row)
        self.sr_edit = QLineEdit()
        self.sr_edit.setPlaceholderText("empty: bicubic upscaling")
        self.sr_edit.setToolTip("The DSR checkpoint that super-resolves the small training faces (the SR inputs); "
                                "by default the one of Settings > Small faces")
        self.sr_edit.textEdited.connect(lambda: setattr(self, "_auto_sr", False))
        self.sr_row = self._with_button(self.sr_edit, "File…", self._browse_sr)
        form.addRow("SR inputs from (DSR)", self.sr_row)
        self.bench_edit = QLineEdit()
        self.bench_edit.setPlaceholderText("optional: a pairs benchmark folder (pairs.txt and images/)")
        self.bench_edit.setToolTip("Also compare the untuned and the fine-tuned model on this verification "
                                   "benchmark at the end (slow: every image is detected and embedded)")
        self.bench_row = self._with_button(self.bench_edit, "Browse…", self._browse_benchmark)
        form.addRow("Benchmark", self.bench_row)
        self.stage1_spin = QSpinBox(minimum=0, maximum=100000, value=int(finetune_default("stage1_epochs")))
        self.stage1_spin.setToolTip("Epochs that train only the ArcFace head, the model frozen")
        form.addRow("Stage 1 epochs", self.stage1_spin)
        self.stage2_spin = QSpinBox(minimum=0, maximum=100000, value=int(finetune_default("stage2_epochs")))
        self.stage2_spin.setToolTip("Epochs that train the whole model (at most: it stops early when the SR–HR "
                                    "similarity stops improving)")
        form.addRow("Stage 2 epochs", self.stage2_spin)
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
        outer = QHBoxLayout(box)
        v = QVBoxLayout()
        outer.addLayout(v, 1)
        self.summary_label = QLabel("No finished run yet.")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        v.addWidget(self.summary_label)
        self.use_row = QWidget()
        row = QHBoxLayout(self.use_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.use_button = QPushButton("Use this model")
        self.use_button.clicked.connect(self.use_model)
        row.addWidget(self.use_button)
        note = QLabel("Makes best.pt the super-resolution model for small faces (Settings > Small faces).")
        note.setWordWrap(True)
        row.addWidget(note, 1)
        v.addWidget(self.use_row)
        v.addStretch(1)
        self.review = ModelReview(self.ctx)  # fine-tuning runs: beside the summary
        outer.addWidget(self.review, 1)
        return box

    # ------------------------------------------------------------------ pickers (they only fill the fields)

    def _browse_data(self) -> None:
        if self.source_combo.currentData() == SOURCE_MANIFEST:
            path, _ = QFileDialog.getOpenFileName(self, "Dataset manifest", self.data_edit.text(),
                                                  "Dataset manifests (*.json);;All files (*)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Training data folder", self.data_edit.text())
        if path:
            self.data_edit.setText(path)

    def _browse_model_file(self, edit: QLineEdit, title: str, filter_text: str) -> bool:
        path, _ = QFileDialog.getOpenFileName(self, title, "", filter_text)
        if path:
            edit.setText(path)
        return bool(path)

    def _browse_embedder(self) -> None:
        self._browse_model_file(self.embedder_edit, "Embedder weights", MODEL_FILTER)

    def _browse_base(self) -> None:
        if self._browse_model_file(self.base_edit, "Model to fine-tune", MODEL_FILTER):
            self._auto_base = False

    def _browse_sr(self) -> None:
        if self._browse_model_file(self.sr_edit, "DSR checkpoint", "DSR checkpoints (*.pt);;All files (*)"):
            self._auto_sr = False

    def _browse_benchmark(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Pairs benchmark folder", self.bench_edit.text())
        if folder:
            self.bench_edit.setText(folder)

    def _browse_out(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", str(Path(self.out_edit.text()).parent))
        if folder:
            self.out_edit.setText(folder)
            self._auto_out = False

    def _out_edited(self) -> None:
        self._auto_out = False

    def _source_changed(self) -> None:
        source = self.source_combo.currentData()
        self.data_row.setEnabled(source != SOURCE_GALLERY)
        self.data_edit.setPlaceholderText("a build-dataset manifest.json" if source == SOURCE_MANIFEST
                                          else "folder with one sub-folder of face images per person")

    def _job_changed(self) -> None:
        finetune = self.job == FINETUNE_JOB
        for field_widget in (self.embedder_row, self.epochs_spin):
            self.form.setRowVisible(field_widget, not finetune)
        for field_widget in (self.base_row, self.sr_row, self.bench_row, self.stage1_spin, self.stage2_spin):
            self.form.setRowVisible(field_widget, finetune)
        self.chart_stack.setCurrentIndex(1 if finetune else 0)
        for i in range(self.chart_stack.count()):  # only the charts shown count for the page's minimum size
            shown = i == self.chart_stack.currentIndex()
            policy = QSizePolicy.Policy.Preferred if shown else QSizePolicy.Policy.Ignored
            self.chart_stack.widget(i).setSizePolicy(policy, policy)
        self.use_row.setVisible(not finetune)
        self.review.setVisible(finetune)
        self._source_changed()

    def _fill_defaults(self) -> None:
        """The fine-tuning fields the operator has not edited follow the app: the gallery's active model and
        the DSR of Settings > Small faces."""
        if self._auto_base:
            try:
                active = self.ctx.gallery.active_model()
            except RollcallError:
                active = None
            source = active.source if active is not None else ""
            self.base_edit.setText("dlib" if is_default_model(source) else source)
        if self._auto_sr:
            self.sr_edit.setText(self.ctx.config.sr_model)

    # ------------------------------------------------------------------ actions

    def form_config(self) -> dict:
        """The config the form describes (plus `extra_config`)."""
        from_gallery = self.source_combo.currentData() == SOURCE_GALLERY
        # the training faces get the landmark error of the detector the app finds faces with
        jitter_px, shift_px = landmark_noise(self.ctx.config.detector)
        config = {
            "data": str(self.ctx.db_path) if from_gallery else self.data_edit.text().strip(),
            "device": self.device_combo.currentData(),
            "max_minutes": float(self.minutes_spin.value()),
            "landmark_jitter_px": jitter_px,
            "landmark_shift_px": shift_px,
        }
        if self.job == FINETUNE_JOB:
            config.update(embedder=self.base_edit.text().strip() or "dlib", dsr=self.sr_edit.text().strip(),
                          stage1_epochs=self.stage1_spin.value(), stage2_epochs=self.stage2_spin.value(),
                          benchmark=self.bench_edit.text().strip())
        else:
            config.update(embedder=self.embedder_edit.text().strip() or "dlib", epochs=self.epochs_spin.value())
        config.update(self.extra_config)
        return config

    def _form_problem(self, config: dict) -> str:
        """What stops the form's run from starting ('' when nothing does)."""
        source, finetune = self.source_combo.currentData(), self.job == FINETUNE_JOB
        data = Path(config["data"]) if config["data"] else None
        if source == SOURCE_GALLERY:
            people = [p for p in self.ctx.gallery.people() if p.n_samples > 0]
            if finetune:
                enough = int(config.get("min_images", finetune_default("min_images")))
                ready = sum(1 for p in people if p.n_samples >= enough)
                if ready < MIN_FINETUNE_PEOPLE:
                    return (f"Fine-tuning on the gallery needs at least {MIN_FINETUNE_PEOPLE} people with {enough} or "
                            f"more photos each (some of each person's photos are held out to validate on); it has "
                            f"{ready}. Add photos in People, or train on a folder or a manifest.")
            elif len(people) < MIN_GALLERY_PEOPLE:
                return (f"Training on the gallery needs at least {MIN_GALLERY_PEOPLE} enrolled people (some are "
                        f"held out to validate on); it has {len(people)}. Enrol more people, or train on a folder "
                        f"of photos.")
        elif source == SOURCE_MANIFEST:
            if data is None or data.suffix.lower() != ".json" or not data.is_file():
                return (f"The dataset manifest '{config['data']}' does not exist. Choose the manifest.json a "
                        f"build-dataset run wrote.")
        elif data is None or not data.is_dir():
            return (f"The data folder '{config['data']}' does not exist. Choose the folder that holds one "
                    f"sub-folder of face images per person.")
        embedder = config["embedder"]
        if embedder != "dlib" and not Path(embedder).is_file():
            return f"The {'model to fine-tune' if finetune else 'embedder'} '{embedder}' is neither 'dlib' nor an " \
                   f"existing model file."
        dsr = config.get("dsr", "") if finetune else ""
        if dsr and not Path(dsr).is_file():
            return (f"The DSR checkpoint '{dsr}' does not exist. Choose a DSR checkpoint (a super-resolution run's "
                    f"best.pt), or leave the field empty for bicubic upscaling.")
        benchmark = config.get("benchmark", "") if finetune else ""
        if benchmark and not is_pairs_benchmark(benchmark):
            return (f"The benchmark folder '{benchmark}' holds no pairs.txt and images/. Choose a pairs benchmark "
                    f"folder, or leave the field empty.")
        return ""

    def start_training(self) -> bool:
        """Write the config into the output folder and start the trainer; False (with a notice) if it cannot."""
        if self.process.is_running():
            self.ctx.notifier.warning(TITLE, "A training run is already going; cancel it first.")
            return False
        config = self.form_config()
        problem = self._form_problem(config)
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
        for chart in self.all_charts:
            chart.clear()
        self.summary_label.setText("No finished run yet.")
        self.log_view.clear()
        self.run_job = self.job
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

    def _show_job(self, job: str) -> None:
        """Show the form, charts and result of this job (the run's, while it goes)."""
        self.run_job = job
        index = self.job_combo.findData(job)
        if index >= 0:
            self.job_combo.setCurrentIndex(index)

    def _launch(self, run_dir: Path, resume: bool) -> None:
        self._show_job(self.run_job)
        self.last_run_dir = run_dir
        self.last_finished = None
        self.review.set_run(None, None, None)
        self._error_reported = False
        self._stderr_tail.clear()
        self.bad_lines = 0
        self._pending_progress = None
        self._stage = None
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
        finetune = self.run_job == FINETUNE_JOB
        if isinstance(event, RunStarted):
            if event.job in (DSR_JOB, FINETUNE_JOB):
                self._show_job(event.job)
            self.last_run_dir = Path(event.run_dir) if event.run_dir else self.last_run_dir
            self.progress.setRange(0, max(1, event.total_steps))
            self.progress.setValue(min(event.start_step, max(1, event.total_steps)))
            self._running_text = (f"Training on {event.device}{' with mixed precision' if event.amp else ''}"
                                  f"{f', resumed at step {event.start_step}' if event.resumed else ''}: "
                                  f"{event.total_steps} steps.")
            if self.state != "stopping":
                self._set_state("running", self._running_text)
        elif isinstance(event, Step):
            if finetune:
                self._on_finetune_step(event)
            else:
                for name, value in event.losses.items():
                    self.loss_chart.add_point(str(name), event.step, value)
                self.lr_chart.add_point("lr", event.step, event.lr)
            speed = f", {event.samples_per_s:.1f} samples/s" if event.samples_per_s is not None else ""
            # shown by the next refresh: a progress bar repaints on every change, too slow for a flood of steps
            self._pending_progress = (event.step, event.total_steps, f"ETA {format_eta(event.eta_s)}{speed}")
        elif isinstance(event, Validation):
            metrics = event.metrics
            if finetune:
                for key, chart in self.ft_val_charts.items():
                    chart.add_point(stage_series(event.stage), event.epoch + 1, metrics.get(key))
            else:
                for key, name in (("psnr", "DSR"), ("psnr_bicubic", "bicubic")):
                    self.psnr_chart.add_point(name, event.step, metrics.get(key))
                for key, name in (("identity", "DSR"), ("identity_bicubic", "bicubic")):
                    self.identity_chart.add_point(name, event.step, metrics.get(key))
            shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, (int, float)))
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
            self._show_pending_progress()
            if event.step is not None and event.status in ("completed", "early_stopped"):
                self.progress.setValue(min(event.step, self.progress.maximum()))
            self.summary_label.setText(self._summary_text(event))
            self._set_state(event.status if event.status in STATE_TEXT else "failed")
            if finetune:
                best = self._best_path() if event.status in REVIEWABLE else None
                self.review.set_run(self.last_run_dir, best, run_evaluation(event.summary, self.last_run_dir))

    def _on_finetune_step(self, event: Step) -> None:
        series = stage_series(event.stage)
        for name, chart in self.ft_loss_charts.items():
            chart.add_point(series, event.step, event.losses.get(name))
        self.ft_lr_chart.add_point(series, event.step, event.lr)
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
        for chart in self.all_charts:
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

    def _state_text(self, state: str) -> str:
        return JOB_STATE_TEXT.get(self.run_job, {}).get(state) or STATE_TEXT.get(state, state)

    def _summary_text(self, event: Finished) -> str:
        lines = [f"<b>{self._state_text(event.status)}</b> Step {event.step if event.step is not None else '–'}"
                 f", {format_eta(event.elapsed_s)} elapsed."]
        summary = event.summary if isinstance(event.summary, dict) else {}
        key, label = BEST_VALUE.get(self.run_job, BEST_VALUE[DSR_JOB])
        best = summary.get(key)
        if isinstance(best, (int, float)):
            lines.append(f"{label}: {best:.4f}")
        if self.run_job == FINETUNE_JOB and summary.get("best_stage") == 1:
            lines.append("<b>best.pt is from stage 1</b>: no stage-2 model beat the untuned one (on SR–HR similarity "
                         "without losing sharp-face accuracy), so its backbone is the untuned model; promoting it "
                         "would change nothing.")
        metrics = summary.get("metrics")
        if isinstance(metrics, dict) and metrics:
            lines.append("Last validation: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                                                         if isinstance(v, (int, float))))
        evaluation = summary.get("evaluation")
        if self.run_job == FINETUNE_JOB and isinstance(evaluation, dict):
            lines.append(evaluation_text(evaluation))
        for key in ("best", "last"):
            if isinstance(summary.get(key), str):
                lines.append(f"{key}.pt: {summary[key]}")
        return "<br>".join(lines)

    def _set_state(self, state: str, text: str = "") -> None:
        self.state = state
        self.status_label.setText(text or self._state_text(state))
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
            and (self.last_run_dir / "last.pt").exists())
        self.use_button.setEnabled(not running and self.run_job == DSR_JOB and self._best_path() is not None)
