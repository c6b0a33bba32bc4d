"""The Settings tab: video source, detector, recognition model (with re-embedding of the gallery, and
roll back to the model active before), small faces (super-resolution by a DSR model or bicubic
upscaling), match threshold with its calibration curve, device, data folder, operator and
unknown-face recording.

Every change is applied by a method that tests call without dialogs
(`apply_source`, `apply_detector`, `choose_model_file`, `roll_back_model`, `apply_small_faces`,
`choose_sr_model_file`, `apply_threshold`, `calibrate`, `apply_device`,
`apply_data_folder`, `apply_operator`, `apply_record_unknown`); the file and
folder pickers only call them. Settings go through `ctx.update_config`, which
validates them: an invalid value shows its message through the notifier and
the old settings stay. Loading a model,
re-embedding the gallery (`desktop.model_switch`, shared with promoting a
fine-tuned model in Training) and calibrating run as background tasks, each
with its own database connection.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressDialog,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.gallery.calibration import Calibration, calibrate
from core.errors import ConfigError, RollcallError
from core.attendance.grabber import PACES
from core.gallery.store import Gallery, ModelRecord
from core.gallery.lifecycle import roll_back
from core.vision.models.base import Embedder
from core.vision.models.loading import DEFAULT_EMBEDDER, is_default_model, load_embedder
from core.vision.models.superres import SuperResolver
from core.vision.pipeline import FacePipeline, resolve_device
from desktop.config import DEFAULT_SR_BELOW_PX, SR_BELOW_PX_RANGE
from desktop.context import SMALL_FACES_TITLE, AppContext
from desktop.model_switch import check_cancelled, reembedding_progress, start_model_switch
from desktop.tasks import Task, TaskControl
from desktop.widgets.calibration_plot import CalibrationPlot

logger = logging.getLogger(__name__)

MODEL_TITLE = "Recognition model"
CALIBRATION_TITLE = "Calibration"
TARGET_FARS = (1e-2, 1e-3, 1e-4)
PACE_LABELS = {"realtime": "Real time (skip frames like a camera)", "every_frame": "Every frame (slower than real time)"}
MODEL_FILTER = "Model weights (*.pt *.pth *.ckpt *.bin *.dat *.safetensors);;All files (*)"
SR_MODEL_FILTER = "DSR checkpoints (*.pt);;All files (*)"


def path_row(edit: QLineEdit, button_text: str, slot) -> QHBoxLayout:
    """A line edit for a path with the button that opens its picker."""
    button = QPushButton(button_text)
    button.clicked.connect(slot)
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    row.addWidget(button)
    return row


class GalleryTooSmall(RollcallError):
    """The gallery cannot be calibrated yet."""


def calibration_data_problem(labels: np.ndarray) -> str:
    """Why these sample labels cannot be calibrated, or '' when they can."""
    people, counts = np.unique(labels, return_counts=True)
    if len(people) >= 2 and counts.max() >= 2:
        return ""
    return (f"The gallery is too small to calibrate: it has {len(people)} "
            f"{'person' if len(people) == 1 else 'people'} and {len(labels)} "
            f"sample{'s' if len(labels) != 1 else ''}. Calibration needs at least two people, and at least one "
            f"of them with two or more photos. Enrol more people (several photos each) and try again.")


def is_stream_or_camera(source: str) -> bool:
    return source.strip().isdigit() or "://" in source


class SettingsPage(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.model_task: Task | None = None
        self.calibration_task: Task | None = None
        self.progress_dialog: QProgressDialog | None = None
        self.calibration: Calibration | None = None
        self.calibration_model_id: int | None = None

        content = QWidget()
        layout = QVBoxLayout(content)
        for box in (self._build_source(), self._build_detector(), self._build_model(), self._build_small_faces(),
                    self._build_threshold(), self._build_general()):
            layout.addWidget(box)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        ctx.config_changed.connect(self._load_from_config)
        ctx.gallery_changed.connect(self._show_model)
        ctx.engine_changed.connect(self._show_model)
        ctx.engine_changed.connect(self._show_small_faces)
        self._load_from_config()
        self._show_model()
        self._show_small_faces()

    @property
    def busy(self) -> bool:
        """A model switch or a calibration is running."""
        return any(t is not None and not t.done.is_set() for t in (self.model_task, self.calibration_task))

    # ------------------------------------------------------------------ layout

    def _build_source(self) -> QGroupBox:
        box = QGroupBox("Video source")
        form = QFormLayout(box)
        self.source_edit = QLineEdit()
        self.source_edit.setPlaceholderText("camera number (0, 1, …), a video file or a stream URL (rtsp://…)")
        form.addRow("Source", path_row(self.source_edit, "Video file…", self._browse_source))
        self.pace_combo = QComboBox()
        for pace in PACES:
            self.pace_combo.addItem(PACE_LABELS.get(pace, pace), pace)
        form.addRow("Video files", self.pace_combo)
        apply = QPushButton("Apply source")
        apply.clicked.connect(lambda: self.apply_source(self.source_edit.text(), self.pace_combo.currentData()))
        self.source_edit.returnPressed.connect(apply.click)
        form.addRow("", apply)
        return box

    def _build_detector(self) -> QGroupBox:
        box = QGroupBox("Face detector")
        form = QFormLayout(box)
        self.detector_combo = QComboBox()
        self.detector_combo.addItem("MTCNN (default)", "mtcnn")
        self.detector_combo.addItem("YuNet (fast, needs its .onnx file)", "yunet")
        form.addRow("Detector", self.detector_combo)
        self.yunet_edit = QLineEdit()
        self.yunet_edit.setPlaceholderText("face_detection_yunet_2023mar.onnx")
        form.addRow("YuNet model", path_row(self.yunet_edit, "Choose .onnx…", self._browse_yunet))
        self.min_face_spin = QSpinBox()
        self.min_face_spin.setRange(12, 1000)
        self.min_face_spin.setSuffix(" px")
        form.addRow("Smallest face", self.min_face_spin)
        apply = QPushButton("Apply detector")
        apply.clicked.connect(lambda: self.apply_detector(self.detector_combo.currentData(), self.yunet_edit.text(),
                                                          self.min_face_spin.value()))
        form.addRow("", apply)
        self.detector_combo.currentIndexChanged.connect(
            lambda: self.yunet_edit.setEnabled(self.detector_combo.currentData() == "yunet"))
        return box

    def _build_model(self) -> QGroupBox:
        box = QGroupBox(MODEL_TITLE)
        layout = QVBoxLayout(box)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.model_label)
        row = QHBoxLayout()
        self.default_model_button = QPushButton("Use the default (dlib)")
        self.default_model_button.clicked.connect(self.use_default_model)
        self.model_file_button = QPushButton("Weights file…")
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
        return box

    def _build_small_faces(self) -> QGroupBox:
        box = QGroupBox(SMALL_FACES_TITLE)
        form = QFormLayout(box)
        self.sr_check = QCheckBox("Super-resolve faces narrower than")
        self.sr_below_spin = QSpinBox()
        self.sr_below_spin.setRange(*SR_BELOW_PX_RANGE)
        self.sr_below_spin.setSuffix(" px")
        self.sr_below_spin.setToolTip("Face width: the span of the 112 px ArcFace crop in image pixels")
        row = QHBoxLayout()
        row.addWidget(self.sr_check)
        row.addWidget(self.sr_below_spin)
        row.addStretch(1)
        form.addRow("Route", row)
        self.sr_model_edit = QLineEdit()
        self.sr_model_edit.setPlaceholderText("empty: bicubic upscaling (no DSR model)")
        form.addRow("DSR model", path_row(self.sr_model_edit, "Browse…", self._browse_sr_model))
        self.sr_label = QLabel()
        self.sr_label.setWordWrap(True)
        self.sr_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("In use", self.sr_label)
        self.sr_apply = QPushButton("Apply small faces")
        self.sr_apply.clicked.connect(lambda: self.apply_small_faces(
            self.sr_check.isChecked(), self.sr_below_spin.value(), self.sr_model_edit.text()))
        self.sr_model_edit.returnPressed.connect(self.sr_apply.click)
        form.addRow("", self.sr_apply)
        self.sr_check.toggled.connect(self.sr_below_spin.setEnabled)
        return box

    def _build_threshold(self) -> QGroupBox:
        box = QGroupBox("Match threshold")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.threshold_spin = QDoubleSpinBox()
        self.threshold_spin.setRange(-1.0, 1.0)
        self.threshold_spin.setDecimals(3)
        self.threshold_spin.setSingleStep(0.01)
        self.threshold_apply = QPushButton("Apply threshold")
        self.threshold_apply.clicked.connect(lambda: self.apply_threshold(self.threshold_spin.value()))
        self.threshold_origin = QLabel()
        row.addWidget(QLabel("Cosine similarity at least"))
        row.addWidget(self.threshold_spin)
        row.addWidget(self.threshold_apply)
        row.addWidget(self.threshold_origin, 1)
        layout.addLayout(row)

        row = QHBoxLayout()
        self.target_far_combo = QComboBox()
        for far in TARGET_FARS:
            self.target_far_combo.addItem(f"1 in {round(1 / far):,}", far)
        self.target_far_combo.setCurrentIndex(1)
        self.calibrate_button = QPushButton("Compute the curve")
        self.calibrate_button.clicked.connect(self.calibrate)
        self.use_suggested_button = QPushButton("Use the suggested threshold")
        self.use_suggested_button.setEnabled(False)
        self.use_suggested_button.clicked.connect(self.use_suggested_threshold)
        row.addWidget(QLabel("Accept strangers at most"))
        row.addWidget(self.target_far_combo)
        row.addWidget(self.calibrate_button)
        row.addWidget(self.use_suggested_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.plot = CalibrationPlot()
        self.plot.clear("Press “Compute the curve” to see the false-accept and false-reject rates of the "
                        "enrolled faces at each threshold.")
        layout.addWidget(self.plot)
        self.calibration_note = QLabel()
        self.calibration_note.setWordWrap(True)
        layout.addWidget(self.calibration_note)
        return box

    def _build_general(self) -> QGroupBox:
        box = QGroupBox("General")
        form = QFormLayout(box)
        self.device_combo = QComboBox()
        self.device_combo.addItem("CPU", "cpu")
        if torch.cuda.is_available():
            self.device_combo.addItem("CUDA (GPU)", "cuda")
            self.device_combo.addItem("Automatic (GPU when present)", "auto")
        self.device_combo.activated.connect(lambda: self.apply_device(self.device_combo.currentData()))
        form.addRow("Run models on", self.device_combo)

        self.data_folder_edit = QLineEdit()
        self.data_folder_edit.setPlaceholderText("the user data folder")
        browse = QPushButton("Folder…")
        browse.clicked.connect(self._browse_data_folder)
        apply = QPushButton("Apply")
        apply.clicked.connect(lambda: self.apply_data_folder(self.data_folder_edit.text()))
        row = QHBoxLayout()
        row.addWidget(self.data_folder_edit, 1)
        row.addWidget(browse)
        row.addWidget(apply)
        form.addRow("Data folder", row)

        self.operator_edit = QLineEdit()
        self.operator_edit.setPlaceholderText("signs manual marks and removals")
        self.operator_edit.editingFinished.connect(lambda: self.apply_operator(self.operator_edit.text()))
        form.addRow("Operator", self.operator_edit)

        self.record_unknown_check = QCheckBox("Keep photos of faces nobody matched (for review)")
        self.record_unknown_check.toggled.connect(self.apply_record_unknown)
        form.addRow("Unknown faces", self.record_unknown_check)
        return box

    # ------------------------------------------------------------------ showing the settings

    def _load_from_config(self) -> None:
        config = self.ctx.config
        widgets = (self.source_edit, self.pace_combo, self.detector_combo, self.yunet_edit, self.min_face_spin,
                   self.device_combo, self.data_folder_edit, self.operator_edit, self.record_unknown_check,
                   self.sr_check, self.sr_below_spin, self.sr_model_edit)
        for widget in widgets:
            widget.blockSignals(True)
        self.source_edit.setText(config.source)
        self.pace_combo.setCurrentIndex(max(self.pace_combo.findData(config.file_pace), 0))
        kind, _, onnx = config.detector.partition(":")
        self.detector_combo.setCurrentIndex(max(self.detector_combo.findData(kind), 0))
        if onnx:
            self.yunet_edit.setText(onnx)
        self.yunet_edit.setEnabled(kind == "yunet")
        self.min_face_spin.setValue(config.min_face_size)
        self.device_combo.setCurrentIndex(max(self.device_combo.findData(config.device), 0))
        self.data_folder_edit.setText(config.data_folder)
        self.operator_edit.setText(config.operator)
        self.record_unknown_check.setChecked(config.record_unknown)
        self.sr_check.setChecked(config.sr_below_px > 0)
        self.sr_below_spin.setValue(config.sr_below_px or DEFAULT_SR_BELOW_PX)
        self.sr_below_spin.setEnabled(config.sr_below_px > 0)
        self.sr_model_edit.setText(config.sr_model)
        for widget in widgets:
            widget.blockSignals(False)

    def _show_model(self) -> None:
        self._set_model_buttons()
        try:
            model = self.ctx.gallery.active_model()
        except RollcallError as exc:
            self.model_label.setText(f"The active model cannot be read: {exc}")
            return
        if model is None:
            self.model_label.setText("No model yet (the default one is set up when the models load).")
            self.threshold_spin.setEnabled(False)
            self.threshold_apply.setEnabled(False)
            return
        source = "the default dlib ResNet" if is_default_model(model.source) else model.source
        self.model_label.setText(f"Active: <b>{model.name}</b> ({model.arch}, {model.dim}-d), from {source}")
        self.threshold_spin.setEnabled(True)
        self.threshold_apply.setEnabled(True)
        self.threshold_spin.setValue(model.threshold)
        self.threshold_origin.setText(f"({model.threshold_origin})")
        self.plot.set_current(model.threshold)
        if self.calibration_model_id is not None and self.calibration_model_id != model.id:
            self.calibration, self.calibration_model_id = None, None
            self.use_suggested_button.setEnabled(False)
            self.plot.clear("The model changed: compute the curve again.")
            self.calibration_note.clear()

    def _show_small_faces(self) -> None:
        """What the engine does with small faces now (the settings may still be loading)."""
        if not self.ctx.engine_ready:
            self.sr_label.setText("The models are loading…" if self.ctx.engine_loading or not self.ctx.engine_error
                                  else "The models are not loaded (see the notification).")
            return
        pipeline = self.ctx.pipeline
        resolver = pipeline.resolver
        if pipeline.sr_below_px <= 0 or resolver is None:
            text = "Off: every face is aligned and embedded as it is."
        elif isinstance(resolver, SuperResolver):
            text = (f"<b>{html.escape(resolver.name)}</b> ({resolver.model.arch}, {resolver.input_size} → "
                    f"{resolver.output_size} px), from {html.escape(resolver.source)}, for faces narrower than "
                    f"{pipeline.sr_below_px:g} px")
        else:
            text = f"Bicubic upscaling (no DSR model) for faces narrower than {pipeline.sr_below_px:g} px"
        if self.ctx.resolver_error:
            text += f"<br>The DSR model is not in use: {html.escape(self.ctx.resolver_error)}"
        self.sr_label.setText(text)

    def active_model(self) -> ModelRecord | None:
        return self.ctx.gallery.active_model()

    # ------------------------------------------------------------------ applying settings

    def _apply(self, title: str, **changes: object) -> bool:
        try:
            self.ctx.update_config(**changes)
        except RollcallError as exc:
            self.ctx.notifier.exception(title, exc)
            self._load_from_config()  # show the settings still in force
            return False
        self.ctx.notifier.info("Settings saved", title)
        return True

    def _refuse(self, title: str, message: str) -> bool:
        self.ctx.notifier.error(title, message)
        self._load_from_config()
        return False

    def apply_source(self, source: str, file_pace: str | None = None) -> bool:
        source = source.strip()
        changes: dict[str, object] = {"source": source}
        if file_pace is not None:
            changes["file_pace"] = file_pace
        if source and not is_stream_or_camera(source) and not Path(source).is_file():
            return self._refuse("Video source", f"The video file {source} does not exist. Give a camera number, "
                                                f"an existing video file or a stream URL.")
        return self._apply("Video source", **changes)

    def apply_detector(self, kind: str, onnx_path: str = "", min_face_size: int | None = None) -> bool:
        title = "Face detector"
        changes: dict[str, object] = {}
        if min_face_size is not None:
            changes["min_face_size"] = int(min_face_size)
        if kind == "mtcnn":
            changes["detector"] = "mtcnn"
        elif kind == "yunet":
            onnx = onnx_path.strip()
            if not onnx:
                return self._refuse(title, "YuNet needs its model file: choose the .onnx file "
                                           "(face_detection_yunet_2023mar.onnx).")
            if not Path(onnx).is_file():
                return self._refuse(title, f"The YuNet model file {onnx} does not exist.")
            changes["detector"] = f"yunet:{onnx}"
        else:
            return self._refuse(title, f"Unknown detector '{kind}': choose MTCNN or YuNet.")
        return self._apply(title, **changes)

    def choose_yunet_file(self, path: str | Path) -> bool:
        self.yunet_edit.setText(str(path))
        return self.apply_detector("yunet", str(path), self.min_face_spin.value())

    def apply_device(self, device: str) -> bool:
        try:
            resolve_device(device)
        except ConfigError as exc:
            return self._refuse("Device", str(exc))
        return self._apply("Device", device=device)

    def apply_data_folder(self, folder: str | Path) -> bool:
        folder = str(folder).strip()
        if self.busy:
            return self._refuse("Data folder", "Wait until the model switch or calibration has finished.")
        if folder and Path(folder).exists() and not Path(folder).is_dir():
            return self._refuse("Data folder", f"{folder} is a file, not a folder.")
        return self._apply("Data folder", data_folder=folder)

    def apply_operator(self, name: str) -> bool:
        if name.strip() == self.ctx.config.operator:
            return True
        return self._apply("Operator", operator=name.strip())

    def apply_record_unknown(self, on: bool) -> bool:
        if bool(on) == self.ctx.config.record_unknown:
            return True
        return self._apply("Unknown faces", record_unknown=bool(on))

    def apply_small_faces(self, on: bool, below_px: int, sr_model: str | Path = "") -> bool:
        """Switch the small-face route on (faces narrower than `below_px`, upscaled by the DSR
        checkpoint `sr_model`, or bicubically when it is empty) or off; the models reload in the
        background. A file that cannot be loaded is reported when they have (bicubic meanwhile)."""
        model = str(sr_model).strip()
        if self.busy:
            return self._refuse(SMALL_FACES_TITLE, "Wait until the model switch or calibration has finished.")
        if model and not Path(model).is_file():
            return self._refuse(SMALL_FACES_TITLE, f"The DSR model file {model} does not exist. Choose a DSR "
                                                   f"checkpoint (a training run's best.pt), or leave the field "
                                                   f"empty for bicubic upscaling.")
        return self._apply(SMALL_FACES_TITLE, sr_below_px=int(below_px) if on else 0, sr_model=model)

    def choose_sr_model_file(self, path: str | Path) -> bool:
        """Use this DSR checkpoint for small faces (switching the route on)."""
        self.sr_model_edit.setText(str(path))
        return self.apply_small_faces(True, self.sr_below_spin.value(), str(path))

    # ------------------------------------------------------------------ recognition model

    def use_default_model(self) -> Task | None:
        return self.choose_model_file(DEFAULT_EMBEDDER)

    def choose_model_file(self, path: str | Path) -> Task | None:
        """Load the weights through core and make them the gallery's model, re-embedding every stored
        face, in the background with a progress dialog. A bad file changes nothing."""
        source = str(path)

        def work(control: TaskControl, gallery: Gallery, device: torch.device) -> Embedder:
            control.progress(0, 0, f"Loading {Path(source).name}…")
            embedder = load_embedder(source, device=device)
            check_cancelled(control)
            gallery.activate_model(embedder, progress=reembedding_progress(control),
                                   cancelled=lambda: control.cancelled)
            return embedder

        return self._switch_model(work, lambda pipeline: f"now using {pipeline.embedder.name}")

    def roll_back_model(self) -> Task | None:
        """Return to the model that was active before the current one (`core.gallery.lifecycle.roll_back`),
        in the background with a progress dialog; instant unless people were enrolled since."""
        previous = self.ctx.gallery.previous_model()
        if previous is None:
            self.ctx.notifier.error(MODEL_TITLE, "There is no earlier model to roll back to.")
            self._set_model_buttons()
            return None
        current = self.ctx.gallery.active_model()

        def work(control: TaskControl, gallery: Gallery, device: torch.device) -> Embedder:
            control.progress(0, 0, f"Rolling back to {previous.name}…")
            _, embedder = roll_back(gallery, device=device, progress=reembedding_progress(control),
                                    cancelled=lambda: control.cancelled)
            return embedder  # the pipeline's embedder: the very weights now active

        def describe(pipeline: FacePipeline) -> str:
            replaced = f"; {current.name} is kept: “Roll back to {current.name}” returns to it" if current else ""
            return f"rolled back to {pipeline.embedder.name}{replaced}"

        return self._switch_model(work, describe)

    def _switch_model(self, work, describe) -> Task | None:
        if self.busy:
            self.ctx.notifier.warning(MODEL_TITLE, "A model switch or calibration is already running.")
            return None
        started = start_model_switch(self.ctx, self, MODEL_TITLE, work, describe)
        if started is None:
            return None
        task, self.progress_dialog = started
        task.finished.connect(self._switch_finished)
        self.model_task = task
        self._set_model_buttons()
        return task

    def _switch_finished(self) -> None:
        self.progress_dialog = None
        self._set_model_buttons()

    def _set_model_buttons(self) -> None:
        running = self.model_task is not None and not self.model_task.done.is_set()
        for button in (self.default_model_button, self.model_file_button):
            button.setEnabled(not running)
        self.calibrate_button.setEnabled(not self.busy)
        try:
            previous = self.ctx.gallery.previous_model()
        except RollcallError:
            previous = None
        self.rollback_button.setText(f"Roll back to {previous.name}" if previous else "Roll back")
        self.rollback_button.setToolTip("Return to the model that was active before this one" if previous
                                        else "No earlier model to return to")
        self.rollback_button.setEnabled(not running and previous is not None)

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Recognition model weights", "", MODEL_FILTER)
        if path:
            self.choose_model_file(path)

    # ------------------------------------------------------------------ threshold and calibration

    def apply_threshold(self, value: float, origin: str = "manual") -> bool:
        model = self.ctx.gallery.active_model()
        if model is None:
            self.ctx.notifier.warning("Threshold", "There is no recognition model yet; wait until the models loaded.")
            return False
        try:
            self.ctx.gallery.set_threshold(model.id, float(value), origin=origin)
        except RollcallError as exc:
            self.ctx.notifier.exception("Threshold", exc)
            self._show_model()
            return False
        self.ctx.gallery_changed.emit()  # the live page re-reads the threshold
        self.ctx.notifier.info("Threshold", f"{model.name}: {value:.3f}")
        return True

    def use_suggested_threshold(self) -> bool:
        if self.calibration is None:
            return False
        return self.apply_threshold(round(self.calibration.threshold, 3), origin="calibrated")

    def calibrate(self) -> Task | None:
        """Compute FAR and FRR over thresholds from the enrolled faces of the active model, in the
        background; the plot shows the curve or why there is none."""
        if self.calibration_task is not None and not self.calibration_task.done.is_set():
            return self.calibration_task
        target_far = float(self.target_far_combo.currentData())
        ctx = self.ctx

        def work(control: TaskControl) -> tuple[int, Calibration]:
            control.progress(0, 0, "comparing the enrolled faces")
            with ctx.open_database() as db:
                gallery = Gallery(db)
                model = gallery.active_model()
                if model is None:
                    raise GalleryTooSmall("There is no recognition model yet: nothing to calibrate.")
                labels, embeddings = gallery.sample_embeddings(model.id)
            problem = calibration_data_problem(labels)
            if problem:
                raise GalleryTooSmall(problem)
            return model.id, calibrate(labels, embeddings, target_far)

        self.calibrate_button.setEnabled(False)
        self.calibration_note.setText("Computing…")
        task = self.ctx.tasks.run(CALIBRATION_TITLE, work, on_done=self._calibrated, on_failed=self._calibration_failed)
        task.finished.connect(lambda: self.calibrate_button.setEnabled(not self.busy))
        self.calibration_task = task
        return task

    def _calibrated(self, result: tuple[int, Calibration]) -> None:
        model_id, cal = result
        self.calibration, self.calibration_model_id = cal, model_id
        self.plot.set_curve(cal.curve_thresholds, cal.curve_far, cal.curve_frr, suggested=cal.threshold)
        model = self.ctx.gallery.active_model()
        self.plot.set_current(model.threshold if model is not None else None)
        self.use_suggested_button.setEnabled(True)
        self.calibration_note.setText(
            f"Suggested threshold {cal.threshold:.3f}: about {cal.far:.2%} false accepts and {cal.frr:.2%} false "
            f"rejects, from {cal.genuine_pairs} same-person and {cal.impostor_pairs} different-person pairs. "
            + ("Few pairs: enrol more people for a reliable estimate." if cal.impostor_pairs < 1000 else ""))

    def _calibration_failed(self, exc: BaseException) -> None:
        self.calibration, self.calibration_model_id = None, None
        self.use_suggested_button.setEnabled(False)
        if isinstance(exc, GalleryTooSmall | ValueError):
            self.plot.clear(str(exc))
            self.calibration_note.setText(str(exc))
            return
        self.plot.clear("The calibration failed; see the notification.")
        self.calibration_note.clear()
        self.ctx.notifier.exception(CALIBRATION_TITLE, exc)

    # ------------------------------------------------------------------ pickers (dialogs only)

    def _browse_source(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Video file", "", "Videos (*.mp4 *.avi *.mkv *.mov *.gif);;All files (*)")
        if path:
            self.source_edit.setText(path)
            self.apply_source(path, self.pace_combo.currentData())

    def _browse_yunet(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "YuNet model", "", "ONNX models (*.onnx)")
        if path:
            self.choose_yunet_file(path)

    def _browse_sr_model(self) -> None:
        start = str(Path(self.sr_model_edit.text()).parent) if self.sr_model_edit.text().strip() else ""
        path, _ = QFileDialog.getOpenFileName(self, "DSR checkpoint", start, SR_MODEL_FILTER)
        if path:
            self.choose_sr_model_file(path)

    def _browse_data_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Data folder", self.data_folder_edit.text())
        if folder:
            self.data_folder_edit.setText(folder)
            self.apply_data_folder(folder)
