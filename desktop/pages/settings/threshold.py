"""The Settings tab's Match threshold group: the active model's threshold, and its calibration curve
(false accepts and false rejects of the enrolled faces at each threshold, computed in the background)
with the threshold it suggests for a chosen false-accept rate."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from core.gallery.calibration import Calibration, calibrate
from core.errors import RollcallError
from core.gallery.store import ModelRecord
from desktop.context import AppContext
from desktop.pages.settings.base import SettingsGroup, SettingsHost
from desktop.tasks import Task, TaskControl
from desktop.widgets.calibration_plot import CalibrationPlot

CALIBRATION_TITLE = "Calibration"
TARGET_FARS = (1e-2, 1e-3, 1e-4)


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


class ThresholdGroup(SettingsGroup):
    def __init__(self, ctx: AppContext, host: SettingsHost) -> None:
        super().__init__("Match threshold", ctx, host)
        self.calibration_task: Task | None = None
        self.calibration: Calibration | None = None
        self.calibration_model_id: int | None = None
        layout = QVBoxLayout(self)
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

    @property
    def calibrating(self) -> bool:
        return self.calibration_task is not None and not self.calibration_task.done.is_set()

    def show_model(self, model: ModelRecord | None) -> None:
        """The active model's threshold; a curve of another model is dropped."""
        if model is None:
            self.threshold_spin.setEnabled(False)
            self.threshold_apply.setEnabled(False)
            return
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

    def apply_threshold(self, value: float, origin: str = "manual") -> bool:
        model = self.ctx.service.gallery.active_model()
        if model is None:
            self.ctx.notifier.warning("Threshold", "There is no recognition model yet; wait until the models loaded.")
            return False
        try:
            self.ctx.service.set_threshold(model.id, float(value), origin=origin)  # the live page re-reads it
        except RollcallError as exc:
            self.ctx.notifier.exception("Threshold", exc)
            self.host.show_model()
            return False
        self.ctx.notifier.info("Threshold", f"{model.name}: {value:.3f}")
        return True

    def use_suggested_threshold(self) -> bool:
        if self.calibration is None:
            return False
        return self.apply_threshold(round(self.calibration.threshold, 3), origin="calibrated")

    def calibrate(self) -> Task | None:
        """Compute FAR and FRR over thresholds from the enrolled faces of the active model, in the
        background; the plot shows the curve or why there is none."""
        if self.calibrating:
            return self.calibration_task
        target_far = float(self.target_far_combo.currentData())
        ctx = self.ctx

        def work(control: TaskControl) -> tuple[int, Calibration]:
            control.progress(0, 0, "comparing the enrolled faces")
            with ctx.service.connect() as service:
                gallery = service.gallery
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
        task.finished.connect(lambda: self.calibrate_button.setEnabled(not self.host.busy))
        self.calibration_task = task
        return task

    def _calibrated(self, result: tuple[int, Calibration]) -> None:
        model_id, cal = result
        self.calibration, self.calibration_model_id = cal, model_id
        self.plot.set_curve(cal.curve_thresholds, cal.curve_far, cal.curve_frr, suggested=cal.threshold)
        model = self.ctx.service.gallery.active_model()
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
