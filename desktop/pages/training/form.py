"""The Training tab's form for a new run: the job (DSR or recognition-model fine-tuning), what it trains
on, the job's own fields (only those of the chosen job are shown), device, time limit and output folder.
It turns into the trainer's config (`config`) and says what stops that config from running (`problem`).
The fine-tuning fields follow the app (the gallery's active model, the DSR of Settings) until edited."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLineEdit, QSpinBox

from core.vision.degrade import landmark_noise
from core.errors import RollcallError
from core.vision.models.loading import is_default_model
from core.benchmarks.verification import is_pairs_benchmark
from desktop.context import AppContext
from desktop.dialogs import open_file, open_folder
from desktop.trainer_process import DSR_JOB, FINETUNE_JOB, default_run_dir
from desktop.widgets.helpers import path_row
from trainer.config import FinetuneConfig

JOBS = ((DSR_JOB, "Super-resolution (DSR)"), (FINETUNE_JOB, "Recognition model fine-tuning"))
SOURCE_FOLDER, SOURCE_GALLERY, SOURCE_MANIFEST = "folder", "gallery", "manifest"
MIN_GALLERY_PEOPLE = 3  # the split by person needs people on both sides, and validation pairs of both kinds
MIN_FINETUNE_PEOPLE = 2  # fine-tuning splits each person's photos; ArcFace needs at least two people
MODEL_FILTER = "Model weights (*.pt *.pth *.dat);;All files (*)"


def finetune_default(name: str) -> object:
    """A FinetuneConfig field's default (the form starts from the trainer's own recipe)."""
    return next(f.default for f in dataclasses.fields(FinetuneConfig) if f.name == name)


class JobForm(QGroupBox):
    job_changed = Signal(str)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__("New training run")
        self.ctx = ctx
        self._auto_out = True
        self._auto_base = self._auto_sr = True  # the fine-tuning defaults follow the app until edited
        form = self.form = QFormLayout(self)
        self.job_combo = QComboBox()
        self.job_combo.setToolTip("What to train")
        for job, label in JOBS:
            self.job_combo.addItem(label, job)
        self.job_combo.currentIndexChanged.connect(self._job_changed)
        form.addRow("Job", self.job_combo)
        self.source_combo = QComboBox()
        self.source_combo.setToolTip("Where the training faces come from")
        self.source_combo.addItem("Photos in a folder (one sub-folder per person)", SOURCE_FOLDER)
        self.source_combo.addItem("The people enrolled in this app (their stored samples)", SOURCE_GALLERY)
        self.source_combo.addItem("A dataset manifest (.json, from the trainer's build-dataset)", SOURCE_MANIFEST)
        self.source_combo.currentIndexChanged.connect(self._source_changed)
        form.addRow("Train on", self.source_combo)
        self.data_edit = QLineEdit()
        self.data_edit.setToolTip("The folder or manifest file with the training faces")
        self.data_row = path_row(self.data_edit, "Browse…", self._browse_data, "Choose the training data")
        form.addRow("Data", self.data_row)
        # train-dsr
        self.embedder_edit = QLineEdit("dlib")
        self.embedder_edit.setToolTip("The frozen identity model: 'dlib' (built in) or a weights file")
        self.embedder_row = path_row(self.embedder_edit, "File…", self._browse_embedder,
                                     "Choose a weights file for the identity model")
        form.addRow("Embedder", self.embedder_row)
        self.epochs_spin = QSpinBox(minimum=1, maximum=100000, value=100)
        self.epochs_spin.setToolTip("Passes over the training data; more: longer and usually better")
        form.addRow("Epochs", self.epochs_spin)
        # finetune
        self.base_edit = QLineEdit()
        self.base_edit.setToolTip("The recognition model to fine-tune: 'dlib' (built in) or a weights file; "
                                  "by default the gallery's active model")
        self.base_edit.textEdited.connect(lambda: setattr(self, "_auto_base", False))
        self.base_row = path_row(self.base_edit, "File…", self._browse_base,
                                 "Choose the weights file of the model to fine-tune")
        form.addRow("Model to fine-tune", self.base_row)
        self.sr_edit = QLineEdit()
        self.sr_edit.setPlaceholderText("empty: bicubic upscaling")
        self.sr_edit.setToolTip("The DSR checkpoint that super-resolves the small training faces (the SR inputs); "
                                "by default the one of Settings > Small faces")
        self.sr_edit.textEdited.connect(lambda: setattr(self, "_auto_sr", False))
        self.sr_row = path_row(self.sr_edit, "File…", self._browse_sr, "Choose the DSR checkpoint")
        form.addRow("SR inputs from (DSR)", self.sr_row)
        self.bench_edit = QLineEdit()
        self.bench_edit.setPlaceholderText("optional: a pairs benchmark folder (pairs.txt and images/)")
        self.bench_edit.setToolTip("Also compare the untuned and the fine-tuned model on this verification "
                                   "benchmark at the end (slow: every image is detected and embedded)")
        self.bench_row = path_row(self.bench_edit, "Browse…", self._browse_benchmark,
                                  "Choose the verification benchmark")
        form.addRow("Benchmark", self.bench_row)
        self.stage1_spin = QSpinBox(minimum=0, maximum=100000, value=int(finetune_default("stage1_epochs")))
        self.stage1_spin.setToolTip("Epochs that train only the ArcFace head, the model frozen")
        form.addRow("Stage 1 epochs", self.stage1_spin)
        self.stage2_spin = QSpinBox(minimum=0, maximum=100000, value=int(finetune_default("stage2_epochs")))
        self.stage2_spin.setToolTip("Epochs that train the whole model (at most: it stops early when the SR–HR "
                                    "similarity stops improving)")
        form.addRow("Stage 2 epochs", self.stage2_spin)
        self.device_combo = QComboBox()
        self.device_combo.setToolTip("Train on the processor (CPU) or a graphics card")
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
        self.out_edit.setToolTip("Where the run's checkpoints and results are saved")
        self.out_edit.textEdited.connect(self._out_edited)
        form.addRow("Output folder", path_row(self.out_edit, "Browse…", self._browse_out,
                                              "Choose the output folder"))

        ctx.gallery_changed.connect(self.fill_defaults)
        ctx.config_changed.connect(self.fill_defaults)
        self.fill_defaults()
        self._job_changed()

    @property
    def job(self) -> str:
        """The job the form describes."""
        return self.job_combo.currentData()

    def set_job(self, job: str) -> None:
        index = self.job_combo.findData(job)
        if index >= 0:
            self.job_combo.setCurrentIndex(index)

    def next_run_folder(self) -> None:
        """After a run started: a new default output folder, unless the operator chose one."""
        if self._auto_out:
            self.out_edit.setText(str(default_run_dir()))

    def fill_defaults(self) -> None:
        """The fine-tuning fields the operator has not edited follow the app: the gallery's active model and
        the DSR of Settings > Small faces."""
        if self._auto_base:
            try:
                active = self.ctx.service.gallery.active_model()
            except RollcallError:
                active = None
            source = active.source if active is not None else ""
            self.base_edit.setText("dlib" if is_default_model(source) else source)
        if self._auto_sr:
            self.sr_edit.setText(self.ctx.config.sr_model)

    # ------------------------------------------------------------------ the config

    def config(self) -> dict:
        """The trainer config the form describes."""
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
        return config

    def problem(self, config: dict) -> str:
        """What stops a run of this config from starting ('' when nothing does)."""
        source, finetune = self.source_combo.currentData(), self.job == FINETUNE_JOB
        data = Path(config["data"]) if config["data"] else None
        if source == SOURCE_GALLERY:
            people = [p for p in self.ctx.service.gallery.people() if p.n_samples > 0]
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

    # ------------------------------------------------------------------ showing the job's fields

    def _job_changed(self) -> None:
        finetune = self.job == FINETUNE_JOB
        for field_widget in (self.embedder_row, self.epochs_spin):
            self.form.setRowVisible(field_widget, not finetune)
        for field_widget in (self.base_row, self.sr_row, self.bench_row, self.stage1_spin, self.stage2_spin):
            self.form.setRowVisible(field_widget, finetune)
        self._source_changed()
        self.job_changed.emit(self.job)

    def _source_changed(self) -> None:
        source = self.source_combo.currentData()
        self.data_row.setEnabled(source != SOURCE_GALLERY)
        self.data_edit.setPlaceholderText("a build-dataset manifest.json" if source == SOURCE_MANIFEST
                                          else "folder with one sub-folder of face images per person")

    # ------------------------------------------------------------------ pickers (they only fill the fields)

    def _browse_data(self) -> None:
        if self.source_combo.currentData() == SOURCE_MANIFEST:
            path = open_file(self, "Dataset manifest", self.data_edit.text(),
                             "Dataset manifests (*.json);;All files (*)")
        else:
            path = open_folder(self, "Training data folder", self.data_edit.text())
        if path:
            self.data_edit.setText(path)

    def _browse_model_file(self, edit: QLineEdit, title: str, filter_text: str) -> bool:
        path = open_file(self, title, "", filter_text)
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
        folder = open_folder(self, "Pairs benchmark folder", self.bench_edit.text())
        if folder:
            self.bench_edit.setText(folder)

    def _browse_out(self) -> None:
        folder = open_folder(self, "Output folder", str(Path(self.out_edit.text()).parent))
        if folder:
            self.out_edit.setText(folder)
            self._auto_out = False

    def _out_edited(self) -> None:
        self._auto_out = False
