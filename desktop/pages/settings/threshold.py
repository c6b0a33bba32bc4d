"""The Settings tab's False marks group: the operator's choice of how rare a false mark must be (a
stranger marked in at most 1 of N sessions), the threshold policy in one sentence, the decision in force
in small print, setting the bar by hand (advanced) or returning to the policy, and the site's own
calibration curve (`desktop.pages.settings.calibration`). It follows the gallery: enrolling or removing
people, a model or threshold change, and the choice itself refresh it (ctx.gallery_changed)."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, \
    QWidget

from core.errors import RollcallError
from core.gallery.calibration import Calibration
from core.gallery.policy import DEFAULT_SESSIONS, SESSIONS_CHOICES, ThresholdDecision
from core.gallery.store import ModelRecord
from desktop.context import AppContext
from desktop.pages.settings.base import SettingsGroup, SettingsHost
from desktop.pages.settings.calibration import CalibrationSection
from desktop.pages.settings.policy_text import decision_details, policy_sentence
from desktop.tasks import Task
from desktop.widgets.helpers import expose

TITLE = "False marks"


class ThresholdGroup(SettingsGroup):
    def __init__(self, ctx: AppContext, host: SettingsHost) -> None:
        super().__init__(TITLE, ctx, host)
        self.decision: ThresholdDecision | None = None
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.sessions_combo = QComboBox()
        self.sessions_combo.setToolTip("How rarely a stranger may be wrongly marked; larger: stricter")
        for n in SESSIONS_CHOICES:
            self.sessions_combo.addItem(f"{n:,}", n)
        self.sessions_combo.setCurrentIndex(SESSIONS_CHOICES.index(DEFAULT_SESSIONS))
        self.sessions_combo.currentIndexChanged.connect(
            lambda i: self.choose_sessions(int(self.sessions_combo.itemData(i))))
        row.addWidget(QLabel("A stranger may be marked in at most 1 of"))
        row.addWidget(self.sessions_combo)
        row.addWidget(QLabel("sessions"))
        row.addStretch(1)
        layout.addLayout(row)
        self.policy_label = QLabel()  # the policy in one sentence
        self.policy_label.setWordWrap(True)
        layout.addWidget(self.policy_label)
        self.decision_label = QLabel()  # the decision in force, small print
        self.decision_label.setWordWrap(True)
        layout.addWidget(self.decision_label)

        self.manual_check = QCheckBox("Set the bar by hand (advanced)")
        self.manual_check.setToolTip("Type the similarity threshold yourself instead of using the policy")
        self.manual_check.toggled.connect(self._manual_toggled)
        layout.addWidget(self.manual_check)
        self.manual_row = QWidget()
        row = QHBoxLayout(self.manual_row)
        row.setContentsMargins(20, 0, 0, 0)
        self.threshold_spin = QDoubleSpinBox()
        self.threshold_spin.setToolTip("Faces at least this similar to a person's template are marked as them")
        self.threshold_spin.setRange(-1.0, 1.0)
        self.threshold_spin.setDecimals(3)
        self.threshold_spin.setSingleStep(0.005)
        self.threshold_apply = QPushButton("Set by hand")
        self.threshold_apply.setToolTip("Use the threshold typed beside it")
        self.threshold_apply.clicked.connect(lambda: self.apply_threshold(self.threshold_spin.value()))
        self.use_policy_button = QPushButton("Use the policy again")
        self.use_policy_button.setToolTip("Go back to the threshold the policy above sets")
        self.use_policy_button.clicked.connect(self.use_policy)
        row.addWidget(QLabel("Cosine similarity at least"))
        row.addWidget(self.threshold_spin)
        row.addWidget(self.threshold_apply)
        row.addWidget(self.use_policy_button)
        row.addStretch(1)
        self.manual_row.setVisible(False)
        layout.addWidget(self.manual_row)

        self.calibration_section = CalibrationSection(ctx, host, self.apply_threshold)
        layout.addWidget(self.calibration_section)
        expose(self, self.calibration_section, "calibrate_button", "use_suggested_button", "plot", "calibration_note",
               "calibrate", "use_suggested_threshold")

    @property
    def calibrating(self) -> bool:
        return self.calibration_section.calibrating

    @property
    def calibration(self) -> Calibration | None:
        return self.calibration_section.calibration

    @property
    def calibration_task(self) -> Task | None:
        return self.calibration_section.calibration_task

    def show_model(self, model: ModelRecord | None) -> None:
        """The choice, the sentence and the decision for the active model; a curve of another model is dropped."""
        try:
            decision = self.ctx.service.threshold_decision() if model is not None else None
        except RollcallError as exc:
            decision = None
            self.policy_label.setText(f"The threshold policy cannot be applied: {exc}")
        else:
            if decision is None:
                self.policy_label.setText("There is no recognition model yet: the bar is set once the models loaded.")
        self.decision = decision
        self.sessions_combo.blockSignals(True)
        sessions = decision.sessions_per_false_mark if decision is not None else self.ctx.service.sessions_per_false_mark
        self.sessions_combo.setCurrentIndex(SESSIONS_CHOICES.index(sessions))
        self.sessions_combo.blockSignals(False)
        manual = decision is not None and decision.source == "manual"
        for widget in (self.manual_check, self.threshold_spin, self.threshold_apply):
            widget.setEnabled(decision is not None)
        self.use_policy_button.setEnabled(manual)
        if decision is None:
            self.decision_label.clear()
        else:
            self.policy_label.setText(policy_sentence(decision))
            self.decision_label.setText(decision_details(decision, model.threshold_origin, model.threshold))
            self.threshold_spin.setValue(decision.threshold)
            if manual:
                self._show_manual(True)
        self.calibration_section.show_model(model, decision.threshold if decision is not None else None)

    def _show_manual(self, shown: bool) -> None:
        self.manual_check.blockSignals(True)
        self.manual_check.setChecked(shown)
        self.manual_check.blockSignals(False)
        self.manual_row.setVisible(shown)

    def _manual_toggled(self, checked: bool) -> None:
        """Checked: the spin box appears (nothing is stored until “Set by hand”). Unchecked while the
        bar is set by hand: the policy decides again."""
        self.manual_row.setVisible(checked)
        if not checked and self.decision is not None and self.decision.source == "manual":
            self.use_policy()

    def choose_sessions(self, sessions: int) -> bool:
        """Store "a stranger is marked in at most 1 of `sessions` sessions"; the bar follows."""
        try:
            decision = self.ctx.service.set_sessions_per_false_mark(sessions)
        except RollcallError as exc:
            self.ctx.notifier.exception(TITLE, exc)
            self.host.show_model()
            return False
        self.host.show_model()  # the service reported a model change too; this does not depend on it
        bar = f": the bar is now {decision.threshold:.3f}" if decision is not None else ""
        self.ctx.notifier.info(TITLE, f"a stranger may be marked in at most 1 of {sessions:,} sessions{bar}")
        return True

    def apply_threshold(self, value: float) -> bool:
        """Set the bar by hand (origin "manual"): it overrides the policy until `use_policy`."""
        model = self.ctx.service.gallery.active_model()
        if model is None:
            self.ctx.notifier.warning(TITLE, "There is no recognition model yet; wait until the models loaded.")
            return False
        try:
            self.ctx.service.set_threshold(model.id, float(value), origin="manual")  # the live page re-reads it
        except RollcallError as exc:
            self.ctx.notifier.exception(TITLE, exc)
            self.host.show_model()
            return False
        self.host.show_model()
        self.ctx.notifier.info(TITLE, f"{model.name}: the bar is set by hand to {value:.3f}; it overrides the "
                                      f"policy until “Use the policy again”")
        return True

    def use_policy(self) -> bool:
        """Drop the bar set by hand: the policy decides again."""
        try:
            self.ctx.service.use_policy_threshold()
        except RollcallError as exc:
            self.ctx.notifier.exception(TITLE, exc)
            self.host.show_model()
            return False
        self._show_manual(False)
        self.host.show_model()
        bar = f" ({self.decision.threshold:.3f})" if self.decision is not None else ""
        self.ctx.notifier.info(TITLE, f"the bar follows the policy again{bar}")
        return True
