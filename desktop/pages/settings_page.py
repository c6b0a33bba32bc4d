"""The Settings tab: one group box per topic (`desktop.pages.settings`): video source, detector,
recognition model, small faces, false marks (the threshold policy), general, database.

Each change goes through a method tests call without dialogs and is validated by `ctx.update_config`
(an invalid value is reported, the old settings stay); model switches and calibration run as tasks.

Details: docs/DESKTOP.md#settings and #test-hooks
"""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QProgressDialog, QScrollArea, QVBoxLayout, QWidget

from core.gallery.calibration import Calibration
from core.errors import RollcallError
from core.gallery.store import ModelRecord
from desktop.context import AppContext
from desktop.pages.settings.database import DatabaseGroup
from desktop.pages.settings.general import GeneralGroup
from desktop.pages.settings.model import ModelGroup
from desktop.pages.settings.small_faces import SmallFacesGroup
from desktop.pages.settings.threshold import ThresholdGroup
from desktop.pages.settings.video import DetectorGroup, SourceGroup
from desktop.tasks import Task
from desktop.widgets.helpers import expose

logger = logging.getLogger(__name__)


class SettingsPage(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.source_group = SourceGroup(ctx, self)
        self.detector_group = DetectorGroup(ctx, self)
        self.model_group = ModelGroup(ctx, self)
        self.small_faces_group = SmallFacesGroup(ctx, self)
        self.threshold_group = ThresholdGroup(ctx, self)
        self.general_group = GeneralGroup(ctx, self)
        self.database_group = DatabaseGroup(ctx, self)
        self.groups = (self.source_group, self.detector_group, self.model_group, self.small_faces_group,
                       self.threshold_group, self.general_group, self.database_group)
        expose(self, self.source_group, "source_picker", "source_edit", "pace_combo", "apply_source")
        expose(self, self.detector_group, "detector_combo", "yunet_edit", "min_face_spin", "apply_detector",
               "choose_yunet_file")
        expose(self, self.model_group, "model_label", "default_model_button", "model_file_button", "rollback_button",
               "use_default_model", "choose_model_file", "roll_back_model")
        expose(self, self.small_faces_group, "sr_mode", "chosen_route", "choose_route", "sr_below_spin",
               "sr_model_edit", "sr_label", "sr_apply",
               "apply_small_faces", "choose_sr_model_file")
        expose(self, self.threshold_group, "sessions_combo", "policy_label", "decision_label", "manual_check",
               "threshold_spin", "threshold_apply", "use_policy_button", "calibrate_button", "use_suggested_button",
               "plot", "calibration_note", "choose_sessions", "apply_threshold", "use_policy",
               "use_suggested_threshold", "calibrate")
        expose(self, self.general_group, "device_combo", "data_folder_edit", "operator_edit", "record_unknown_check",
               "apply_device", "apply_data_folder", "apply_operator", "apply_record_unknown")

        content = QWidget()
        layout = QVBoxLayout(content)
        for box in self.groups:
            layout.addWidget(box)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        ctx.config_changed.connect(self.load_from_config)
        ctx.gallery_changed.connect(self.show_model)
        ctx.engine_changed.connect(self.show_model)
        ctx.engine_changed.connect(self.small_faces_group.show_engine)
        self.load_from_config()
        self.show_model()
        self.small_faces_group.show_engine()

    @property
    def busy(self) -> bool:
        """A model switch or a calibration is running."""
        return self.model_group.switching or self.threshold_group.calibrating

    @property
    def model_task(self) -> Task | None:
        """The last model switch started here."""
        return self.model_group.model_task

    @property
    def progress_dialog(self) -> QProgressDialog | None:
        """The progress dialog of the model switch running, if any."""
        return self.model_group.progress_dialog

    @property
    def calibration(self) -> Calibration | None:
        """The calibration of the active model shown, if any."""
        return self.threshold_group.calibration

    def active_model(self) -> ModelRecord | None:
        return self.ctx.service.gallery.active_model()

    def load_from_config(self) -> None:
        """Every group shows the settings in force."""
        config = self.ctx.config
        for group in self.groups:
            group.load(config)

    def show_model(self) -> None:
        """The model and threshold groups show the active model."""
        self.update_buttons()
        try:
            model = self.ctx.service.gallery.active_model()
        except RollcallError as exc:
            self.model_label.setText(f"The active model cannot be read: {exc}")
            return
        self.model_group.show_model(model)
        self.threshold_group.show_model(model)

    def update_buttons(self) -> None:
        """The buttons that start a model switch or a calibration follow what is running."""
        self.model_group.set_buttons()
        self.calibrate_button.setEnabled(not self.busy)
