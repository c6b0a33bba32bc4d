"""The Settings tab's General group: the device the models run on, the data folder, the operator who
signs manual marks, whether faces nobody matched are kept for review and for how long, the PIN that
guards leaving the kiosk view, and the admin PIN (desktop.admin_gate)."""

from __future__ import annotations

from pathlib import Path

import torch
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox

from core.errors import ConfigError, RollcallError
from core.vision.pipeline import resolve_device
from desktop.admin_gate import SetPinDialog
from desktop.config import DesktopConfig
from desktop.context import AppContext
from desktop.dialogs import open_folder
from desktop.pages.settings.base import SettingsGroup, SettingsHost
from desktop.widgets.helpers import signals_blocked


class GeneralGroup(SettingsGroup):
    def __init__(self, ctx: AppContext, host: SettingsHost) -> None:
        super().__init__("General", ctx, host)
        form = QFormLayout(self)
        self.device_combo = QComboBox()
        self.device_combo.setToolTip("Where face recognition runs: the processor (CPU) or a graphics card")
        self.device_combo.addItem("CPU", "cpu")
        if torch.cuda.is_available():
            self.device_combo.addItem("CUDA (GPU)", "cuda")
            self.device_combo.addItem("Automatic (GPU when present)", "auto")
        self.device_combo.activated.connect(lambda: self.apply_device(self.device_combo.currentData()))
        form.addRow("Run models on", self.device_combo)

        self.data_folder_edit = QLineEdit()
        self.data_folder_edit.setToolTip("The folder that holds the database and backups; Apply to move there")
        self.data_folder_edit.setPlaceholderText("the user data folder")
        browse = QPushButton("Folder…")
        browse.setToolTip("Choose the data folder")
        browse.clicked.connect(self._browse_data_folder)
        apply = QPushButton("Apply")
        apply.setToolTip("Use the data folder typed beside it")
        apply.clicked.connect(lambda: self.apply_data_folder(self.data_folder_edit.text()))
        row = QHBoxLayout()
        row.addWidget(self.data_folder_edit, 1)
        row.addWidget(browse)
        row.addWidget(apply)
        form.addRow("Data folder", row)

        self.operator_edit = QLineEdit()
        self.operator_edit.setToolTip("Your name; recorded with the marks you add or remove by hand")
        self.operator_edit.setPlaceholderText("signs manual marks and removals")
        self.operator_edit.editingFinished.connect(lambda: self.apply_operator(self.operator_edit.text()))
        form.addRow("Operator", self.operator_edit)

        self.kiosk_pin_edit = QLineEdit()
        self.kiosk_pin_edit.setToolTip("Digits asked before leaving the kiosk view; empty: no PIN")
        self.kiosk_pin_edit.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)
        self.kiosk_pin_edit.setPlaceholderText("digits; empty: Esc leaves the kiosk view at once")
        self.kiosk_pin_edit.editingFinished.connect(lambda: self.apply_kiosk_pin(self.kiosk_pin_edit.text()))
        form.addRow("Kiosk PIN", self.kiosk_pin_edit)

        self.record_unknown_check = QCheckBox("Keep photos of faces nobody matched (for review)")
        self.record_unknown_check.setToolTip("Save the faces the app did not recognise, to enrol or delete later")
        self.record_unknown_check.toggled.connect(self.apply_record_unknown)
        self.retention_spin = QSpinBox()
        self.retention_spin.setRange(0, 3650)
        self.retention_spin.setSuffix(" days")
        self.retention_spin.setSpecialValueText("until deleted")
        self.retention_spin.setToolTip("Kept faces older than this are deleted (when the app opens and daily); "
                                       "0: kept until deleted in Attendance → Unknown faces")
        self.retention_spin.editingFinished.connect(lambda: self.apply_retention(self.retention_spin.value()))
        unknown_row = QHBoxLayout()
        unknown_row.addWidget(self.record_unknown_check, 1)
        unknown_row.addWidget(QLabel("&Keep for"))
        unknown_row.itemAt(1).widget().setBuddy(self.retention_spin)
        unknown_row.addWidget(self.retention_spin)
        form.addRow("Unknown faces", unknown_row)

        self.admin_pin_button = QPushButton("Set admin PIN…")
        self.admin_pin_button.setToolTip("Set or change the PIN asked before settings and deletions")
        self.admin_pin_button.clicked.connect(self.ask_admin_pin)
        self.admin_pin_label = QLabel()
        pin_row = QHBoxLayout()
        pin_row.addWidget(self.admin_pin_label, 1)
        pin_row.addWidget(self.admin_pin_button)
        form.addRow("Admin PIN", pin_row)
        self.set_pin_dialog: SetPinDialog | None = None

    def load(self, config: DesktopConfig) -> None:
        with signals_blocked(self.device_combo, self.data_folder_edit, self.operator_edit, self.kiosk_pin_edit,
                             self.record_unknown_check, self.retention_spin):
            self.device_combo.setCurrentIndex(max(self.device_combo.findData(config.device), 0))
            self.data_folder_edit.setText(config.data_folder)
            self.operator_edit.setText(config.operator)
            self.kiosk_pin_edit.setText(config.kiosk_pin)
            self.record_unknown_check.setChecked(config.record_unknown)
            self.retention_spin.setValue(config.unknown_retention_days)
        self.show_admin_pin()

    def apply_device(self, device: str) -> bool:
        try:
            resolve_device(device)
        except ConfigError as exc:
            return self._refuse("Device", str(exc))
        return self._apply("Device", device=device)

    def apply_data_folder(self, folder: str | Path) -> bool:
        folder = str(folder).strip()
        if self.host.busy:
            return self._refuse("Data folder", "Wait until the model switch or calibration has finished.")
        if folder and Path(folder).exists() and not Path(folder).is_dir():
            return self._refuse("Data folder", f"{folder} is a file, not a folder.")
        return self._apply("Data folder", data_folder=folder)

    def apply_operator(self, name: str) -> bool:
        if name.strip() == self.ctx.config.operator:
            return True
        return self._apply("Operator", operator=name.strip())

    def apply_kiosk_pin(self, pin: str) -> bool:
        if pin.strip() == self.ctx.config.kiosk_pin:
            return True
        return self._apply("Kiosk PIN", kiosk_pin=pin.strip())

    def apply_record_unknown(self, on: bool) -> bool:
        if bool(on) == self.ctx.config.record_unknown:
            return True
        return self._apply("Unknown faces", record_unknown=bool(on))

    def apply_retention(self, days: int) -> bool:
        if int(days) == self.ctx.config.unknown_retention_days:
            return True
        return self._apply("Unknown faces", unknown_retention_days=int(days))

    def show_admin_pin(self) -> None:
        try:
            has_pin = self.ctx.service.has_admin_pin
        except RollcallError:
            has_pin = False
        self.admin_pin_label.setText("set: asked before settings, deletions, model changes and leaving the kiosk"
                                     if has_pin else "none")
        self.admin_pin_button.setText("Change or clear admin &PIN…" if has_pin else "Set admin &PIN…")

    def ask_admin_pin(self) -> SetPinDialog:
        """The dialog that sets, changes or clears the admin PIN (opened, not blocking)."""
        if self.set_pin_dialog is not None:
            self.set_pin_dialog.deleteLater()
        self.set_pin_dialog = SetPinDialog(self, self.ctx)
        self.set_pin_dialog.accepted.connect(self.show_admin_pin)
        self.set_pin_dialog.open()
        return self.set_pin_dialog

    def _browse_data_folder(self) -> None:
        folder = open_folder(self, "Data folder", self.data_folder_edit.text())
        if folder:
            self.data_folder_edit.setText(folder)
            self.apply_data_folder(folder)
