"""Settings > False marks: the site's own curve. False accepts and false rejects of the enrolled faces
at each threshold (computed in the background) with the bar in force marked, and the threshold they
suggest for the policy's per-comparison target. Using the suggestion sets the bar by hand; the note
says how many different-person pairs the site needs before its own photos may lower the policy's bar."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core.errors import RollcallError
from core.gallery.calibration import Calibration, calibrate
from core.gallery.policy import site_pairs_needed
from core.gallery.store import ModelRecord
from desktop.context import AppContext
from desktop.pages.settings.base import SettingsHost
from desktop.tasks import Task, TaskControl
from desktop.widgets.calibration_plot import CalibrationPlot

CALIBRATION_TITLE = "Calibration"
DEFAULT_TARGET_FAR = 1e-3  # without a model (and so without a decision); the worker then reports why


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


def calibration_note(cal: Calibration, policy_far: float | None = None) -> str:
    """The suggestion, and why it is not the bar: how many different-person pairs lowering the bar
    needs at the policy's per-comparison FAR (default: the calibration's target)."""
    needed = site_pairs_needed(policy_far if policy_far is not None else cal.target_far)
    if cal.impostor_pairs >= needed:
        pairs = (f"With {cal.impostor_pairs:,} different-person pairs (at least {needed:,} needed) the policy "
                 f"already uses this site's photos itself.")
    else:
        pairs = (f"Too few to lower the bar: the site's own photos may lower it only from {needed:,} "
                 f"different-person pairs on (it has {cal.impostor_pairs:,}); until then they may only raise it.")
    whose = "the policy's " if policy_far is None or math.isclose(policy_far, cal.target_far) else ""
    return (f"Suggested threshold {cal.threshold:.3f} for {whose}{cal.target_far:.1e} false accepts per "
            f"comparison: {cal.far:.2%} false accepts and {cal.frr:.2%} false rejects on this site's "
            f"{cal.genuine_pairs:,} same-person and {cal.impostor_pairs:,} different-person pairs. {pairs} "
            f"“Use the suggested threshold” sets it by hand, overriding the policy until “Use the policy again”.")


class CalibrationSection(QWidget):
    """The curve's row of buttons, the plot (shown once there is a curve) and the note."""

    def __init__(self, ctx: AppContext, host: SettingsHost, set_by_hand: Callable[[float], bool]) -> None:
        super().__init__()
        self.ctx, self.host, self.set_by_hand = ctx, host, set_by_hand
        self.calibration_task: Task | None = None
        self.calibration: Calibration | None = None
        self.calibration_model_id: int | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.calibrate_button = QPushButton("Compute the site's curve")
        self.calibrate_button.setToolTip("False accepts and false rejects of the enrolled faces at each threshold")
        self.calibrate_button.clicked.connect(self.calibrate)
        self.use_suggested_button = QPushButton("Use the suggested threshold (sets it by hand)")
        self.use_suggested_button.setToolTip("Set the threshold to the one the curve suggests for this site")
        self.use_suggested_button.setEnabled(False)
        self.use_suggested_button.clicked.connect(self.use_suggested_threshold)
        row.addWidget(QLabel("This site's own photos:"))
        row.addWidget(self.calibrate_button)
        row.addWidget(self.use_suggested_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.plot = CalibrationPlot()
        self.plot.clear("Press “Compute the site's curve” to see the false-accept and false-reject rates of "
                        "the enrolled faces at each threshold.")
        self.plot.setVisible(False)  # no room taken until there is a curve
        layout.addWidget(self.plot)
        self.calibration_note = QLabel()
        self.calibration_note.setWordWrap(True)
        layout.addWidget(self.calibration_note)

    @property
    def calibrating(self) -> bool:
        return self.calibration_task is not None and not self.calibration_task.done.is_set()

    def show_model(self, model: ModelRecord | None, bar: float | None) -> None:
        """The bar in force on the plot; a curve of another model is dropped."""
        self.plot.set_current(bar)
        if model is None or (self.calibration_model_id is not None and self.calibration_model_id != model.id):
            if self.calibration_model_id is not None:
                self.plot.clear("The model changed: compute the curve again.")
                self.plot.setVisible(False)
                self.calibration_note.setText("The model changed: compute the curve again.")
            self.calibration, self.calibration_model_id = None, None
            self.use_suggested_button.setEnabled(False)

    def use_suggested_threshold(self) -> bool:
        """The suggestion becomes the bar, set by hand (it overrides the policy)."""
        if self.calibration is None:
            return False
        return self.set_by_hand(round(self.calibration.threshold, 3))

    def calibrate(self, target_far: float | None = None) -> Task | None:
        """FAR and FRR over thresholds from the enrolled faces of the active model, in the background,
        and the threshold for `target_far` (default: the policy's per-comparison FAR); the plot shows
        the curve, or the note why there is none."""
        if self.calibrating:
            return self.calibration_task
        if target_far is None:
            try:
                decision = self.ctx.service.threshold_decision()
            except RollcallError:
                decision = None
            target_far = decision.per_comparison_far if decision is not None else DEFAULT_TARGET_FAR
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
        bar = self.plot.current
        self.plot.set_curve(cal.curve_thresholds, cal.curve_far, cal.curve_frr, suggested=cal.threshold)
        self.plot.set_current(bar)
        self.plot.setVisible(True)
        self.use_suggested_button.setEnabled(True)
        try:
            decision = self.ctx.service.threshold_decision()
        except RollcallError:
            decision = None
        self.calibration_note.setText(calibration_note(cal, decision.per_comparison_far if decision else None))

    def _calibration_failed(self, exc: BaseException) -> None:
        self.calibration, self.calibration_model_id = None, None
        self.use_suggested_button.setEnabled(False)
        self.plot.setVisible(False)
        if isinstance(exc, GalleryTooSmall | ValueError):
            self.plot.clear(str(exc))
            self.calibration_note.setText(str(exc))
            return
        self.plot.clear("The calibration failed; see the notification.")
        self.calibration_note.clear()
        self.ctx.notifier.exception(CALIBRATION_TITLE, exc)
