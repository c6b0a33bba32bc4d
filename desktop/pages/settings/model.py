"""The Settings tab's Recognition model group: use the default model or a weights file (every enrolled
face is re-computed with it), or roll back to the model active before, through the service's
`activate_model` / `roll_back`. The switch runs in the background with a progress dialog
(`desktop.model_switch`)."""

from __future__ import annotations

from pathlib import Path

import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressDialog, QPushButton, QVBoxLayout

from core.errors import RollcallError
from core.gallery.store import ModelRecord
from core.service import Rollcall
from core.vision.models.loading import DEFAULT_EMBEDDER, is_default_model, load_embedder
from core.vision.pipeline import FacePipeline
from desktop.admin_gate import admin_allows
from desktop.context import AppContext
from desktop.dialogs import open_file
from desktop.model_switch import check_cancelled, reembedding_progress, start_model_switch
from desktop.pages.settings.base import SettingsGroup, SettingsHost
from desktop.tasks import Task, TaskControl

MODEL_TITLE = "Recognition model"
MODEL_FILTER = "Model weights (*.pt *.pth *.ckpt *.bin *.dat *.safetensors);;All files (*)"


class ModelGroup(SettingsGroup):
    def __init__(self, ctx: AppContext, host: SettingsHost) -> None:
        super().__init__(MODEL_TITLE, ctx, host)
        self.model_task: Task | None = None
        self.progress_dialog: QProgressDialog | None = None
        layout = QVBoxLayout(self)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.model_label)
        row = QHBoxLayout()
        self.default_model_button = QPushButton("Use the default (dlib)")
        self.default_model_button.setToolTip("Recognise with the built-in model")
        self.default_model_button.clicked.connect(self.use_default_model)
        self.model_file_button = QPushButton("Weights file…")
        self.model_file_button.setToolTip("Recognise with a trained model: choose its weights file")
        self.model_file_button.clicked.connect(self._browse_model)
        self.rollback_button = QPushButton("Roll back")
        self.rollback_button.clicked.connect(self.roll_back_model)
        row.addWidget(self.default_model_button)
        row.addWidget(self.model_file_button)
        row.addWidget(self.rollback_button)
        row.addStretch(1)
        layout.addLayout(row)
        note = QLabel("Changing the model re-computes every enrolled face with it; switching back to a model "
                      "used before is instant. “Roll back” returns to the model that was active before this one "
                      "(for instance after promoting a fine-tuned model in Training).")
        note.setWordWrap(True)
        layout.addWidget(note)

    @property
    def switching(self) -> bool:
        return self.model_task is not None and not self.model_task.done.is_set()

    def show_model(self, model: ModelRecord | None) -> None:
        if model is None:
            self.model_label.setText("No model yet (the default one is set up when the models load).")
            return
        source = "the default dlib ResNet" if is_default_model(model.source) else model.source
        self.model_label.setText(f"Active: <b>{model.name}</b> ({model.arch}, {model.dim}-d), from {source}")

    def set_buttons(self) -> None:
        running = self.switching
        for button in (self.default_model_button, self.model_file_button):
            button.setEnabled(not running)
        try:
            previous = self.ctx.service.gallery.previous_model()
        except RollcallError:
            previous = None
        self.rollback_button.setText(f"Roll back to {previous.name}" if previous else "Roll back")
        self.rollback_button.setToolTip("Return to the model that was active before this one" if previous
                                        else "No earlier model to return to")
        self.rollback_button.setEnabled(not running and previous is not None)

    def use_default_model(self) -> Task | None:
        return self.choose_model_file(DEFAULT_EMBEDDER)

    def choose_model_file(self, path: str | Path) -> Task | None:
        """Load the weights through core and make them the gallery's model, re-embedding every stored
        face, in the background with a progress dialog. A bad file changes nothing."""
        source = str(path)

        def work(control: TaskControl, service: Rollcall, device: torch.device) -> None:
            control.progress(0, 0, f"Loading {Path(source).name}…")
            embedder = load_embedder(source, device=device)
            check_cancelled(control)
            service.activate_model(embedder, progress=reembedding_progress(control),
                                   cancelled=lambda: control.cancelled)

        return self._switch_model(work, lambda pipeline: f"now using {pipeline.embedder.name}")

    def roll_back_model(self) -> Task | None:
        """Return to the model that was active before the current one (the service's `roll_back`), in
        the background with a progress dialog; instant unless people were enrolled since."""
        previous = self.ctx.service.gallery.previous_model()
        if previous is None:
            self.ctx.notifier.error(MODEL_TITLE, "There is no earlier model to roll back to.")
            self.host.update_buttons()
            return None
        current = self.ctx.service.gallery.active_model()

        def work(control: TaskControl, service: Rollcall, device: torch.device) -> None:
            control.progress(0, 0, f"Rolling back to {previous.name}…")
            service.roll_back(progress=reembedding_progress(control), cancelled=lambda: control.cancelled)

        def describe(pipeline: FacePipeline) -> str:
            replaced = f"; {current.name} is kept: “Roll back to {current.name}” returns to it" if current else ""
            return f"rolled back to {pipeline.embedder.name}{replaced}"

        return self._switch_model(work, describe)

    def _switch_model(self, work, describe) -> Task | None:
        if not admin_allows(self, self.ctx, "Changing the recognition model"):
            return None
        if self.host.busy:
            self.ctx.notifier.warning(MODEL_TITLE, "A model switch or calibration is already running.")
            return None
        started = start_model_switch(self.ctx, self, MODEL_TITLE, work, describe)
        if started is None:
            return None
        task, self.progress_dialog = started
        task.finished.connect(self._switch_finished)
        self.model_task = task
        self.host.update_buttons()
        return task

    def _switch_finished(self) -> None:
        self.progress_dialog = None
        self.host.update_buttons()

    def _browse_model(self) -> None:
        path = open_file(self, "Recognition model weights", "", MODEL_FILTER)
        if path:
            self.choose_model_file(path)
